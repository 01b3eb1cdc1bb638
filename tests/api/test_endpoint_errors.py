"""How the handler answers when the model endpoint fails.

First with botocore's Stubber on the real sagemaker-runtime error shapes, then for real over
loopback: a socket that accepts and never answers (read timeout), a closed port, and the real
serving toolkit behind Multi Model Server running a stand-in model that fails on purpose,
behind the local SageMaker runtime API (its 424 ModelError, with the toolkit's traceback in
OriginalMessage, and 400 ValidationError go through botocore's own parsing).
"""
from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from api_support import invoke, load_app, make_event
from botocore.stub import Stubber

# The tests on the real toolkit share the session's model servers with the other such tests.
ON_THE_MODEL_SERVER = pytest.mark.xdist_group("local-api")
ONE = {"headline": "Fed raises interest rates again"}


def classify(module, body=ONE):
    return invoke(module, make_event(body=body))


@pytest.mark.parametrize("code, http_status, fields, expected, error_code, retry_after", [
    # The model container answered 5xx: SageMaker wraps it in a 424 ModelError.
    ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "boom",
                         "LogStreamArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/x"},
     502, "model_error", None),
    ("ModelError", 424, {}, 502, "model_error", None),
    # The model container answered 4xx: it judged the input bad, so the caller gets a 400.
    ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": "no words in the headline"},
     400, "bad_request", None),
    ("ThrottlingException", 400, {}, 429, "throttled", "1"),
    ("ServiceUnavailable", 503, {}, 503, "unavailable", "5"),
    ("ModelNotReadyException", 429, {}, 503, "unavailable", "5"),
    ("InternalFailure", 500, {}, 503, "unavailable", "5"),
    ("InternalDependencyException", 530, {}, 503, "unavailable", "5"),
    ("ValidationError", 400, {}, 503, "unavailable", "30"),
    ("ValidationException", 400, {}, 503, "unavailable", "30"),
    ("AccessDeniedException", 403, {}, 503, "unavailable", "30"),
])
def test_error_shapes_are_mapped(app_module, contract, code, http_status, fields, expected, error_code, retry_after):
    with Stubber(app_module.runtime) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code=code,
                              service_message="Endpoint headlines-test of account 000000000000 not found."
                              if code.startswith("Validation") else f"{code} happened",
                              http_status_code=http_status, modeled_fields=fields or None)
        answer = classify(app_module)
        stub.assert_no_pending_responses()
    assert answer.status == expected, answer.text
    contract.validate("POST", "/v1/classify", expected, answer.headers, answer.json)
    assert answer.json["error"]["code"] == error_code
    assert answer.header("Retry-After") == retry_after
    if code == "ModelError" and expected == 400:
        assert answer.json["error"]["message"] == "no words in the headline"
    else:
        assert "happened" not in answer.text and "account" not in answer.text  # internals stay in the logs


@pytest.mark.parametrize("body", [b"not json", b'{"predictions": []}', b'{"predictions": [{"label": "b"}]}',
                                  b'{"no": "predictions"}', b"[]", b"\xff\xfe"])
def test_an_unexpected_model_answer_is_502(app_module, contract, body):
    import io

    from botocore.response import StreamingBody

    with Stubber(app_module.runtime) as stub:
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(body), len(body))})
        answer = classify(app_module)
    assert answer.status == 502
    contract.validate("POST", "/v1/classify", 502, answer.headers, answer.json)


class SilentServer:
    """Accepts connections and reads, but never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        for conn in self.connections:
            conn.close()
        self.sock.close()


def test_read_timeout_is_504(contract):
    server = SilentServer()
    try:
        url = f"http://127.0.0.1:{server.port}"
        module = load_app(ENDPOINT_TIMEOUT_SECONDS="0.4", AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=url)
        attempts = module.runtime.meta.config.retries["total_max_attempts"]
        started = time.monotonic()
        answer = classify(module)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert answer.status == 504, answer.text
    contract.validate("POST", "/v1/classify", 504, answer.headers, answer.json)
    assert answer.json["error"]["code"] == "timeout"
    # Bounded: the configured attempts of 0.4 s each plus standard-mode backoff (< 1 s, < 2 s).
    assert len(server.connections) == attempts
    assert elapsed < attempts * 0.4 + sum(2 ** i for i in range(attempts - 1)) + 1.0
    # The message says how long the caller waited, all attempts together.
    waited = float(re.search(r"within (\d+) s", answer.json["error"]["message"]).group(1))
    assert abs(waited - elapsed) <= 1.0, answer.json["error"]["message"]


def test_connection_refused_is_503(contract):
    module = load_app(AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME="http://127.0.0.1:9")
    answer = classify(module)
    assert answer.status == 503
    contract.validate("POST", "/v1/classify", 503, answer.headers, answer.json)
    assert int(answer.header("Retry-After")) >= 1


@pytest.fixture(scope="module")
def fake_endpoint(fake_container):
    return fake_container[1]


@pytest.fixture(scope="module")
def via_local_server(fake_endpoint):
    return load_app(ENDPOINT_TIMEOUT_SECONDS="0.5", AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=fake_endpoint,
                    AWS_ENDPOINT_URL_SAGEMAKER=fake_endpoint)


@ON_THE_MODEL_SERVER
@pytest.mark.parametrize("headline, status, code", [
    ("a fine headline", 200, None),
    ("__bad__", 400, "bad_request"),     # the model's 4xx
    ("__boom__", 502, "model_error"),    # the model's unexpected exception (500)
    ("__junk__", 502, "model_error"),    # an answer that is not JSON
    ("__slow__", 504, "timeout"),        # slower than ENDPOINT_TIMEOUT_SECONDS
])
def test_through_the_real_toolkit(via_local_server, contract, headline, status, code):
    answer = classify(via_local_server, {"headline": headline})
    assert answer.status == status, answer.text
    contract.validate("POST", "/v1/classify", status, answer.headers, answer.json)
    if code:
        assert answer.json["error"]["code"] == code
        assert "secret" not in answer.text and "Traceback" not in answer.text and 'File "' not in answer.text
    if headline == "__bad__":  # the model's own message, without the traceback the toolkit appends
        assert answer.json["error"]["message"] == "the model refuses this headline"


@ON_THE_MODEL_SERVER
def test_wrong_endpoint_name_is_503(fake_endpoint, contract):
    module = load_app(ENDPOINT_NAME="no-such-endpoint", AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=fake_endpoint,
                      AWS_ENDPOINT_URL_SAGEMAKER=fake_endpoint)
    answer = classify(module)
    assert answer.status == 503 and answer.header("Retry-After") == "30"
    contract.validate("POST", "/v1/classify", 503, answer.headers, answer.json)
    health = invoke(module, make_event(method="GET", path="/v1/health", body=None))
    assert health.status == 200 and health.json["model"]["status"] == "unreachable"
    contract.validate("GET", "/v1/health", 200, health.headers, health.json)


@ON_THE_MODEL_SERVER
def test_health_through_the_local_runtime_api(via_local_server, contract):
    health = invoke(via_local_server, make_event(method="GET", path="/v1/health", body=None))
    assert health.status == 200
    contract.validate("GET", "/v1/health", 200, health.headers, health.json)
    assert health.json["status"] == "ok" and health.json["model"]["status"] == "InService"


@pytest.mark.parametrize("original, expected", [
    # The serving toolkit's body: message, newline, traceback (Transformer.handle_error).
    ('headline 0 is empty\nTraceback (most recent call last):\n  File "/opt/ml/model/code/inference.py", line 3\n'
     "ClientError: headline 0 is empty", "headline 0 is empty"),
    # Multi Model Server's own error body.
    ('{"code": 413, "type": "RequestTooLarge", "message": "request too large"}', "request too large"),
    ('Traceback (most recent call last):\n  File "/x.py", line 1', "the model rejected the input"),
    ('  File "/opt/ml/model/code/inference.py", line 3, in input_fn', "the model rejected the input"),
    (None, "the model rejected the input"),
    ("x" * 400, "x" * 300),
])
def test_model_messages_reach_callers_without_tracebacks(app_module, original, expected):
    assert app_module.model_message(original) == expected
