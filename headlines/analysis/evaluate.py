"""``headlines evaluate``: score a model artifact on a News Aggregator file of either format.

The model is loaded the way serving loads it (its own ``code/inference.py``, the functions the
MXNet serving toolkit calls: ``model_fn`` once, then ``input_fn`` -> ``predict_fn`` ->
``output_fn``), so the figures are those of what an endpoint would answer, not of a copy of
the network. It runs in this process, not behind Multi Model Server: scoring a file needs the
handler chain, not the model server's start-up and HTTP path. The metrics are computed by ``training/metrics.py``, the code that wrote the
model's own ``metrics.json``.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from headlines.file_modules import load_file_module
from headlines.local.sources import InputError
from headlines.project import TRAINING_DIR

# Headlines per call of the artifact's own chain (inference.py sets no limit outside an endpoint).
INVOCATION_BATCH = 500
# The modules an artifact's code/inference.py imports from its own folder.
CODE_MODULES = ("headline_text", "numpy_network")
MOST_CONFIDENT_ERRORS = 20


@functools.lru_cache(maxsize=None)
def training_metrics():
    """training/metrics.py (numpy only), loaded once."""
    return load_file_module("headlines_training_metrics", TRAINING_DIR / "metrics.py")


def news_data():
    """training/news_data.py, the one copy the local pipeline also uses (one DataError class)."""
    from headlines.local.pipeline import _news_data

    return _news_data()


@dataclass
class LoadedModel:
    directory: Path  # the unpacked artifact
    module: Any  # the artifact's code/inference.py
    network: Any  # what its model_fn returned
    labels: List[Dict[str, str]]  # [{"code", "name"}] in output order
    metrics: Dict[str, Any]  # the artifact's own metrics.json

    @property
    def version(self) -> str:
        return str(self.metrics.get("model_version", "unknown"))


def unpack_model(model: Path, into: Optional[Path] = None) -> Path:
    """A model folder as it is; a model.tar.gz unpacked into ``into`` (default: a temporary folder)."""
    model = Path(model)
    if model.is_dir():
        return model
    if not model.is_file():
        raise InputError(f"{model}: no such model (pass a model.tar.gz or its unpacked folder)")
    target = Path(into) if into else Path(tempfile.mkdtemp(prefix="headlines-model-"))
    try:
        with tarfile.open(model) as tar:
            tar.extractall(target, filter="data")  # "data": no links or paths leaving the folder
    except (tarfile.TarError, EOFError, OSError) as error:
        reason = " ".join(str(error).split()) if isinstance(error, OSError) else "not a gzip-compressed tar file"
        raise InputError(f"{model}: not a readable model.tar.gz ({reason})") from error
    return target


def load_model(model: Path) -> LoadedModel:
    """The artifact's own serving code with the model loaded (what the endpoint would run)."""
    directory = unpack_model(model)
    for name in ("code/inference.py", "labels.json", "metrics.json"):
        if not (directory / name).is_file():
            raise InputError(f"{model}: not a model artifact (no {name})")
    # inference.py imports its artifact's own modules: a copy another artifact loaded into this
    # process (a notebook comparing two models) must not stand in for them.
    for name in CODE_MODULES:
        loaded = sys.modules.get(name)
        if loaded is not None and Path(loaded.__file__ or "").resolve().parent != (directory / "code").resolve():
            del sys.modules[name]
    try:
        labels = json.loads((directory / "labels.json").read_text(encoding="utf-8"))["labels"]
        metrics = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
        module = load_file_module(f"headlines_inference_{abs(hash(str(directory.resolve())))}",
                                  directory / "code" / "inference.py")
        network = module.model_fn(str(directory))
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{model}: cannot load the model ({type(error).__name__}: {error})") from error
    except Exception as error:  # MXNet raises its own MXNetError for a broken network file
        raise InputError(f"{model}: cannot load the model ({type(error).__name__}: {str(error).splitlines()[0]})") from error
    return LoadedModel(directory, module, network, labels, metrics)


def predict(model: LoadedModel, headlines: Sequence[str]) -> List[Dict[str, Any]]:
    """The endpoint's predictions ({"label", "category", "confidence", "scores"}), in order."""
    chain = model.module
    predictions: List[Dict[str, Any]] = []
    for start in range(0, len(headlines), INVOCATION_BATCH):
        body = json.dumps({"headlines": list(headlines[start:start + INVOCATION_BATCH])}).encode("utf-8")
        try:
            data = chain.input_fn(body, "application/json")
            answer, _ = chain.output_fn(chain.predict_fn(data, model.network), "application/json")
        except chain.ClientError as error:  # the 4xx the toolkit would answer
            raise InputError(f"the model refused headlines {start}-{start + INVOCATION_BATCH - 1}: {error}") from error
        predictions.extend(json.loads(answer)["predictions"])
    return predictions


def load_rows(data: Path):
    """Every usable row of a News Aggregator file (either format): news_data.LoadReport."""
    module = news_data()
    try:
        return module.load_headlines(str(data))
    except module.DataError as error:
        raise InputError(str(error)) from error


def score(model: LoadedModel, rows: Sequence[Any], errors: int = MOST_CONFIDENT_ERRORS) -> Dict[str, Any]:
    """Accuracy, macro-F1, per class, confusion matrix and the most confident mistakes."""
    codes = [label["code"] for label in model.labels]
    names = [label["name"] for label in model.labels]
    unknown = sorted({row.label for row in rows} - set(codes))
    if unknown:
        raise InputError(f"labels {', '.join(unknown)} are not the model's ({', '.join(codes)})")
    predictions = predict(model, [row.title for row in rows])
    truth = [codes.index(row.label) for row in rows]
    predicted = [codes.index(prediction["label"]) for prediction in predictions]
    report = training_metrics().classification_report(truth, predicted, names)
    mistakes = [
        {"headline": row.title, "true": names[t], "predicted": prediction["category"],
         "confidence": prediction["confidence"], "story": row.story}
        for row, t, p, prediction in zip(rows, truth, predicted, predictions) if t != p
    ]
    mistakes.sort(key=lambda mistake: -mistake["confidence"])
    confidences = {"correct": [prediction["confidence"] for t, p, prediction in zip(truth, predicted, predictions)
                               if t == p],
                   "wrong": [prediction["confidence"] for t, p, prediction in zip(truth, predicted, predictions)
                             if t != p]}
    return dict(report, headlines=len(rows), most_confident_errors=mistakes[:errors], confidences=confidences)


def evaluate(model_path: Path, data: Path) -> Dict[str, Any]:
    """``headlines evaluate``'s result: the model, the data and the scores."""
    loaded_rows = load_rows(data)  # a bad file fails before the model loads
    with tempfile.TemporaryDirectory(prefix="headlines-model-") as scratch:
        model = load_model(unpack_model(model_path, Path(scratch)))
        scores = score(model, loaded_rows.rows)
    scores.pop("confidences")
    return {
        "model": {"path": str(model_path), "version": model.version,
                  "trained_test_accuracy": model.metrics.get("accuracy"),
                  "trained_test_macro_f1": model.metrics.get("macro_f1")},
        "data": {"path": str(data), "format": loaded_rows.source_format, "rows": len(loaded_rows.rows),
                 "skipped": loaded_rows.skipped},
        **scores,
    }


def format_result(result: Dict[str, Any]) -> str:
    """The lines ``headlines evaluate`` prints."""
    data = result["data"]
    skipped = f", {data['skipped']} malformed rows skipped" if data["skipped"] else ""
    lines = [
        f"model {result['model']['version']} on {data['rows']:,} headlines ({data['format']}{skipped}) from {data['path']}",
        f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}",
        f"{'class':<20} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}",
    ]
    for name, scores in result["per_class"].items():
        lines.append(f"{name:<20} {scores['precision']:>9.4f} {scores['recall']:>7.4f} {scores['f1']:>7.4f} "
                     f"{scores['support']:>8,}")
    return "\n".join(lines)


def write_json(result: Dict[str, Any], path: Path) -> None:
    """Written under a temporary name first: a partial file never sits under the final name."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"{path.parent}: no such folder for the JSON output")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, path)
