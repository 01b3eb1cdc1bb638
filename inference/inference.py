"""Serving entry point for the SageMaker MXNet inference container (and the local endpoint).

The container calls ``model_fn`` once, then ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per
request. Runs on Python 3.8. Contract (see README, "Endpoint contract"):

request  application/json  {"headline": "..."} | {"headlines": ["...", ...]} | ["...", ...]
         text/csv, text/plain  one headline per line
         application/jsonlines  one JSON string or {"headline": "..."} per line
response application/json  {"predictions": [{"label", "category", "confidence", "scores"}],
                             "model": {"version", "test_accuracy", "test_macro_f1"}}
         application/jsonlines  one {"headline", "label", "category", "confidence", "scores",
                                "model_version"} per headline and line (Batch Transform's
                                AssembleWith=Line keeps one output line per headline)
A bad payload is a client error (4xx) with a message, never a server error.
"""
import csv
import ctypes
import gc
import io
import json
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
import numpy_network
from headline_text import Vocabulary

try:  # present in the SageMaker serving container: it maps status_code onto the response
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:  # outside the container (unit tests in .venv): same attributes
    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code, message=None, phrase=None):
            super().__init__(status_code, message, phrase)
            self.status_code = status_code
            self.message = message
            self.phrase = phrase


JSON = "application/json"
JSON_LINES = "application/jsonlines"
TEXT_TYPES = ("text/csv", "text/plain")
PREDICT_BATCH = 256
# What the numpy network must answer as the graph does before it serves (tests/frozen holds
# more): words, digits, no words at all, Unicode, more words than max_len, long text.
PROBES = ["Fed raises interest rates again", "Apple unveils iPhone 6, sales top 10 million", "!!!", "",
          "Beyoncé’s café — naïve résumé", "Ebola outbreak spreads to Guinea; WHO warns " * 4,
          "Kim Kardashian and Kanye West", "Q2 GDP: S&P 500 hits record high", "x" * 300]
AGREEMENT = 1e-6  # largest difference in a probability between the numpy network and the graph


def _limit(name: str) -> Optional[int]:
    """A request limit from the container's environment: the SageMaker Model's (infra/serving.py)
    or the local endpoint's, both from cdk.json's headlines.api, equal to the API's own limits.
    Unset: the artifact runs outside an endpoint (``headlines evaluate``, tests), with no limit."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:  # a misconfigured endpoint fails to load its model, and says why
        raise ValueError("{}={!r} must be a whole number of at least 1".format(name, raw))
    return value


MAX_HEADLINES = _limit("HEADLINES_MAX_BATCH")
MAX_CHARS = _limit("HEADLINES_MAX_CHARS")


class ClientError(_ToolkitError):
    """A request the model cannot serve; answered with a 4xx and the message."""

    def __init__(self, message: str, status_code: int = 400):
        super(ClientError, self).__init__(status_code, message, message)

    def __str__(self) -> str:
        return self.message


class HeadlineModel(mx.gluon.Block):
    """The exported network plus what turns text into its input and its output into labels.

    A Gluon ``Block`` (wrapping the exported ``SymbolBlock``), because the MXNet serving
    toolkit accepts only a ``Block`` or a ``BaseModule`` from ``model_fn`` when the module
    defines ``input_fn``/``predict_fn``/``output_fn`` (HandlerService._user_module_transformer);
    any other object fails every worker with "Unsupported model type".

    The same network runs in numpy (numpy_network.py: 5-10 times faster) once it has answered
    the probe headlines as the graph does; the graph is then let go, its memory with it.
    Otherwise (``use_numpy`` False, a network numpy_network.py does not know, a difference)
    the graph serves (``net``), and a difference is logged.
    """

    def __init__(self, model_dir: str, use_numpy: bool = True):
        super(HeadlineModel, self).__init__()

        def load(name):
            path = os.path.join(model_dir, name)
            try:
                with open(path, encoding="utf-8") as handle:
                    return json.load(handle)
            except (OSError, ValueError) as error:
                raise ValueError("cannot load the model's {}: {}".format(name, error)) from error

        self.vocab = Vocabulary.from_json(load("vocab.json"))
        self.labels = [(label["code"], label["name"]) for label in load("labels.json")["labels"]]
        metrics = load("metrics.json")
        self.info: Dict[str, object] = {"version": str(metrics.get("model_version", "unknown"))}
        for name in ("accuracy", "macro_f1"):
            if name in metrics:
                self.info["test_" + name] = round(float(metrics[name]), 4)
        with warnings.catch_warnings():  # MXNet warns that it cannot infer the input dtype
            warnings.simplefilter("ignore")
            graph = mx.gluon.SymbolBlock.imports(
                os.path.join(model_dir, "model-symbol.json"), ["data"],
                os.path.join(model_dir, "model-0000.params"), ctx=mx.cpu())
        graph.hybridize(static_alloc=True, static_shape=True)
        self.network = _numpy_network(graph, metrics, self.vocab) if use_numpy else None
        if self.network is not None:
            gap = float(np.abs(self._probabilities(PROBES, self.network.probabilities)
                               - self._probabilities(PROBES, self._graph_probabilities(graph))).max())
            if not gap <= AGREEMENT:
                print("the numpy network differs from the exported graph by {:.2g}: serving the graph".format(gap),
                      file=sys.stderr, flush=True)
                self.network = None
        if self.network is None:
            self.net = graph  # a child Block only where it serves: otherwise its memory goes
        else:
            del graph
            _release_freed_memory()

    def forward(self, tokens):  # pylint: disable=arguments-differ
        if self.network is not None:
            raise RuntimeError("this model serves its numpy network (probabilities); the graph is not kept")
        return self.net(tokens)

    def probabilities(self, headlines: Sequence[str]) -> np.ndarray:
        network = self.network.probabilities if self.network is not None else self._graph_probabilities(self.net)
        return self._probabilities(headlines, network)

    def _probabilities(self, headlines: Sequence[str], network) -> np.ndarray:
        parts = [network(*self.vocab.encode_batch(headlines[start:start + PREDICT_BATCH]))
                 for start in range(0, len(headlines), PREDICT_BATCH)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _graph_probabilities(self, graph):
        """The exported graph's class probabilities (a softmax of its output), from
        ``Vocabulary.encode_batch``'s arrays: its one input is ``Vocabulary.encode``'s rows."""
        def probabilities(tokens: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
            rows = np.zeros((len(tokens), self.vocab.width), dtype=np.float32)
            rows[:, :self.vocab.max_len] = tokens
            counts = np.diff(offsets)
            within = np.arange(len(ids)) - np.repeat(offsets[:-1], counts)
            rows[np.repeat(np.arange(len(tokens)), counts), self.vocab.max_len + within] = ids
            # from_numpy hands the buffer over without a copy; mx.nd.array would copy it and
            # probe scipy.sparse on every call (a deprecation warning each time).
            return numpy_network.softmax(graph(mx.nd.from_numpy(rows, zero_copy=True)).asnumpy())
        return probabilities


def _numpy_network(graph, metrics: Dict[str, object], vocab: Vocabulary) -> Optional[numpy_network.Network]:
    """The numpy network of the artifact's members (metrics.json names them and their weights),
    from the graph's parameters, or None for an artifact it does not know."""
    training = metrics.get("training")
    if not isinstance(training, dict) or not training.get("members") or not training.get("member_weights"):
        return None
    params = {name: param.data().asnumpy() for name, param in graph.collect_params().items()}
    members = [str(member.get("name")) for member in training["members"]]
    return numpy_network.load(params, members, training["member_weights"], vocab.max_len)


def _release_freed_memory() -> None:
    """glibc keeps what a process frees on its heap; the graph and the parameters' copies the
    numpy network was made from are ~100 MiB of it (a no-op elsewhere)."""
    gc.collect()  # a Gluon block's reference cycles
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# The model this process loaded last, and the state of its folder's files when it did.
_LOADED: Dict[str, Any] = {}


def _folder_state(model_dir: str) -> Optional[Tuple[Any, ...]]:
    try:
        files = sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                       for entry in os.scandir(model_dir) if entry.is_file())
    except OSError:  # no such folder: HeadlineModel says which file it could not load
        return None
    return (os.path.realpath(model_dir),) + tuple(files)


def model_fn(model_dir: str) -> HeadlineModel:
    """The model of ``model_dir``, warmed up. The MXNet serving toolkit calls this twice in each
    worker (its handler service loads the model to check its type and drops it, then its
    transformer loads it to serve): the second call gets the model the first one loaded, unless
    the folder's files changed since; each worker then loads it once."""
    state = _folder_state(model_dir)
    if state is not None and _LOADED.get("state") == state:
        return _LOADED["model"]
    model = HeadlineModel(model_dir)
    model.probabilities(["warm up"])  # the first call builds the graph; keep it off requests
    _LOADED.clear()
    _LOADED.update(state=state, model=model)
    return model


def _media_type(content_type: str) -> str:
    return (content_type or JSON).split(";")[0].strip().lower()


def _check(headlines: List[object]) -> List[str]:
    if not headlines:
        raise ClientError("no headline given")
    if MAX_HEADLINES is not None and len(headlines) > MAX_HEADLINES:
        raise ClientError("too many headlines: {} (at most {})".format(len(headlines), MAX_HEADLINES))
    for position, text in enumerate(headlines):
        if not isinstance(text, str):
            raise ClientError("headline {} is not a string".format(position))
        if not text.strip():
            raise ClientError("headline {} is empty".format(position))
        if MAX_CHARS is not None and len(text) > MAX_CHARS:
            raise ClientError("headline {} is longer than {} characters".format(position, MAX_CHARS))
    return list(headlines)  # type: ignore[arg-type]


def _from_json(text: str) -> List[object]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise ClientError("body is not valid JSON: {}".format(error)) from error
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if "headline" in payload:
            return [payload["headline"]]
        if "headlines" in payload and isinstance(payload["headlines"], list):
            return payload["headlines"]
    raise ClientError("JSON body must be {\"headline\": str}, {\"headlines\": [str]} or [str]")


def _from_lines(text: str, media_type: str) -> List[object]:
    if media_type == "text/csv":  # a quoted field may hold commas; unquoted commas are kept
        return [",".join(row) for row in csv.reader(io.StringIO(text)) if any(field.strip() for field in row)]
    return [line for line in text.splitlines() if line.strip()]


def _from_json_lines(text: str) -> List[object]:
    headlines = []  # type: List[object]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            raise ClientError("line {} is not valid JSON: {}".format(number, error)) from error
        headlines.append(value.get("headline") if isinstance(value, dict) else value)
    return headlines


def input_fn(request_body, content_type: str = JSON) -> List[str]:
    media_type = _media_type(content_type)
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = bytes(request_body).decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError("body is not UTF-8 text") from None
    if media_type == JSON:
        return _check(_from_json(request_body))
    if media_type in TEXT_TYPES:
        return _check(_from_lines(request_body, media_type))
    if media_type == JSON_LINES:
        return _check(_from_json_lines(request_body))
    raise ClientError("unsupported content type '{}': use {}, {} or {}".format(
        content_type, JSON, JSON_LINES, " or ".join(TEXT_TYPES)), status_code=415)


def predict_fn(headlines: List[str], model: HeadlineModel) -> Dict[str, object]:
    probabilities = model.probabilities(headlines)
    predictions = []
    for row in probabilities:
        best = int(np.argmax(row))
        code, name = model.labels[best]
        predictions.append({
            "label": code,
            "category": name,
            "confidence": round(float(row[best]), 6),
            "scores": {label_name: round(float(p), 6) for (_, label_name), p in zip(model.labels, row)},
        })
    return {"predictions": predictions, "model": model.info, "headlines": list(headlines)}


def output_fn(prediction: Dict[str, Any], accept: str = JSON) -> Tuple[str, str]:
    media_type = _media_type(accept)
    if media_type == JSON_LINES:
        version = prediction["model"]["version"]
        lines = [json.dumps(dict(headline=text, model_version=version, **item), separators=(",", ":"))
                 for text, item in zip(prediction["headlines"], prediction["predictions"])]
        return "".join(line + "\n" for line in lines), JSON_LINES
    if media_type not in (JSON, "*/*"):
        raise ClientError("unsupported accept type '{}': use {} or {}".format(accept, JSON, JSON_LINES), status_code=406)
    return json.dumps({"predictions": prediction["predictions"], "model": prediction["model"]}, separators=(",", ":")), JSON
