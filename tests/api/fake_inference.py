"""A stand-in ``code/inference.py`` with the real one's contract, served by the real MXNet
serving toolkit behind Multi Model Server, for the tests that need a model that fails on
purpose (the real model is used everywhere else). Runs on the container's Python 3.8.

Special headlines: ``__bad__`` -> a toolkit client error (400), ``__boom__`` -> an unexpected
exception (the toolkit answers 500), ``__slow__`` -> sleeps ``FAKE_MODEL_SLOW_SECONDS``,
``__junk__`` -> an answer that is not JSON.
"""
import json
import os
import time

import mxnet as mx
from sagemaker_inference.errors import GenericInferenceToolkitError

LABELS = [("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health")]


class FakeModel(mx.gluon.Block):
    """A Gluon Block, as the toolkit requires of model_fn's answer."""

    def __init__(self, metrics):
        super(FakeModel, self).__init__()
        self.metrics = metrics


def slow_seconds():
    with open(os.path.join(os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "."), "..", "slow_seconds")) as handle:
        return float(handle.read().strip())


def model_fn(model_dir):
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        return FakeModel(json.load(handle))


def input_fn(body, content_type):
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8")
    if content_type.split(";")[0].strip() in ("text/csv", "text/plain"):
        return [line for line in body.splitlines() if line.strip()]
    try:
        data = json.loads(body)
    except ValueError:
        raise GenericInferenceToolkitError(400, "body is not JSON") from None
    if isinstance(data, dict) and "headline" in data:
        return [data["headline"]]
    if isinstance(data, dict) and "headlines" in data:
        return list(data["headlines"])
    if isinstance(data, list):
        return data
    raise GenericInferenceToolkitError(400, "expected headline or headlines")


def predict_fn(data, model):
    out = []
    for text in data:
        if text == "__bad__":
            raise GenericInferenceToolkitError(400, "the model refuses this headline")
        if text == "__boom__":
            raise RuntimeError("secret internal detail /etc/passwd")
        if text == "__slow__":
            time.sleep(slow_seconds())
        if text == "__junk__":
            return "junk"
        index = len(text) % 4
        scores = {name: (0.7 if i == index else 0.1) for i, (_, name) in enumerate(LABELS)}
        out.append({"label": LABELS[index][0], "category": LABELS[index][1], "confidence": 0.7, "scores": scores})
    return {"predictions": out, "model": {"version": "fake-1", "test_accuracy": 0.5,
                                          "test_macro_f1": 0.4}}


def output_fn(prediction, accept):
    if prediction == "junk":
        return "this is not json", "text/plain"
    return json.dumps(prediction), "application/json"
