"""A stand-in ``code/inference.py`` with the real one's contract, for the serving tests that
need a model that fails on purpose (the real model is used everywhere else).

Special headlines: ``__bad__`` -> a 4xx client error, ``__boom__`` -> an unexpected
exception (500), ``__slow__`` -> sleeps ``SLOW_SECONDS``, ``__junk__`` -> an answer that is
not JSON.
"""
import json
import os
import time

LABELS = [("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health")]
SLOW_SECONDS = float(os.environ.get("FAKE_MODEL_SLOW_SECONDS", "3"))


class ClientError(Exception):
    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def model_fn(model_dir):
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        return {"metrics": json.load(handle)}


def input_fn(body, content_type):
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8")
    if content_type.split(";")[0].strip() in ("text/csv", "text/plain"):
        return [line for line in body.splitlines() if line.strip()]
    try:
        data = json.loads(body)
    except ValueError:
        raise ClientError(400, "body is not JSON")
    if isinstance(data, dict) and "headline" in data:
        return [data["headline"]]
    if isinstance(data, dict) and "headlines" in data:
        return list(data["headlines"])
    if isinstance(data, list):
        return data
    raise ClientError(400, "expected headline or headlines")


def predict_fn(data, model):
    out = []
    for text in data:
        if text == "__bad__":
            raise ClientError(400, "the model refuses this headline")
        if text == "__boom__":
            raise RuntimeError("secret internal detail /etc/passwd")
        if text == "__slow__":
            time.sleep(SLOW_SECONDS)
        if text == "__junk__":
            return "junk"
        index = len(text) % 4
        scores = {name: (0.7 if i == index else 0.1) for i, (_, name) in enumerate(LABELS)}
        out.append({"label": LABELS[index][0], "category": LABELS[index][1], "confidence": 0.7, "scores": scores})
    return {"predictions": out, "model": {"version": "fake-1", "test_accuracy": 0.5,
                                          "test_macro_f1": 0.4}}


def output_fn(prediction, accept):
    if prediction == {"predictions": "junk"} or prediction == "junk":
        return "this is not json", "text/plain"
    return json.dumps(prediction), "application/json"
