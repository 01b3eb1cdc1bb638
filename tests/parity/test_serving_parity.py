"""Container parity, serving: a model trained by the project's own pipeline, served as the
SageMaker MXNet 1.9.0 inference image serves it (AWS's serving toolkit behind Multi Model
Server, Python 3.8, mxnet 1.9.0: ``.venv-sagemaker``), sent the API's payloads, good and bad,
directly, through the SageMaker runtime API shapes, and through the unchanged Lambda handler.

One model server for the module (start-ups take seconds), one more for the regression check.
"""
from __future__ import annotations

import http.client
import json
import shutil
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config

from headlines.config import load_config
from headlines.local.api_front import build_event, handler_environment, load_handler, start_local_api
from headlines.local.endpoint import LocalServeError, start_model_server

pytestmark = [pytest.mark.parity, pytest.mark.slow, pytest.mark.xdist_group("local-api")]

CATEGORIES = {"business", "science_technology", "entertainment", "health"}
TRACE_MARKERS = ("Traceback", 'File "', "site-packages")
ENDPOINT = "headlines-parity"
# The container's limits are the API's (cdk.json headlines.api), passed as the SageMaker Model does.
MAX_CHARS = load_config().api.max_headline_chars


@pytest.fixture(scope="module")
def served(tiny_model_dir, sagemaker_python):
    api = start_local_api(tiny_model_dir, workers=2, endpoint_name=ENDPOINT)
    yield api
    api.stop()


def check_prediction(item):
    assert item["category"] in CATEGORIES and item["label"] in {"b", "t", "e", "m"}
    assert set(item["scores"]) == CATEGORIES
    assert abs(sum(item["scores"].values()) - 1) < 1e-3 and 0 < item["confidence"] <= 1


@pytest.mark.parametrize("body, content_type, count", [
    (b'{"headline": "Fed raises interest rates again"}', "application/json", 1),
    (json.dumps({"headlines": [f"Apple unveils iPhone {i}" for i in range(100)]}).encode(), "application/json", 100),
    (b'["Fed raises interest rates again", "New Ebola case confirmed in Guinea"]', "application/json", 2),
    (b"Fed raises interest rates again\nNew Ebola case confirmed in Guinea\n", "text/csv", 2),
    (b'"S&P 500, Dow hit records"\nApple unveils a new iPhone\n', "text/csv", 2),
    (b"Fed raises interest rates again\n", "text/plain", 1),
])
def test_the_toolkit_serves_the_api_payloads(served, body, content_type, count):
    status, answer = served.model_server.request("POST", "/invocations", body, content_type)
    assert status == 200, answer[:300]
    data = json.loads(answer)
    assert len(data["predictions"]) == count
    for item in data["predictions"]:
        check_prediction(item)
    assert data["model"]["version"] and 0 <= data["model"]["test_accuracy"] <= 1


@pytest.mark.parametrize("body, content_type, status, message", [
    (b'{"x": 1}', "application/json", 400, "JSON body must be"),
    (b"[]", "application/json", 400, "no headline given"),
    (b"[1]", "application/json", 400, "headline 0 is not a string"),
    (b'{"headline": "  "}', "application/json", 400, "headline 0 is empty"),
    (b"{not json", "application/json", 400, "body is not valid JSON"),
    (json.dumps({"headline": "x" * (MAX_CHARS + 1)}).encode(), "application/json", 400, f"longer than {MAX_CHARS}"),
    (b"\n\n", "text/csv", 400, "no headline given"),
    (b"<p>hi</p>", "text/html", 415, "unsupported content type"),
])
def test_bad_payloads_are_client_errors_from_the_toolkit(served, body, content_type, status, message):
    answer_status, answer = served.model_server.request("POST", "/invocations", body, content_type)
    assert answer_status == status
    assert answer.decode().splitlines()[0].startswith(message) or message in answer.decode().splitlines()[0]


def test_the_runtime_api_wraps_toolkit_errors_as_sagemaker_does(served):
    runtime = boto3.client("sagemaker-runtime", endpoint_url=served.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x",
                           config=Config(retries={"total_max_attempts": 1}))
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b'{"headlines": ["a b c", "d e f"]}',
                                     ContentType="application/json", Accept="application/json")
    assert len(json.loads(answer["Body"].read())["predictions"]) == 2
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"[]", ContentType="application/json")
    assert raised.value.response["OriginalStatusCode"] == 400
    assert raised.value.response["OriginalMessage"].startswith("no headline given\nTraceback")


@pytest.fixture(scope="module")
def lambda_handler(served):
    # The Lambda as deployed, except a longer headline limit than the model's (the API's), so that
    # the model's own 4xx (with the toolkit's traceback) reaches the handler.
    environment = handler_environment(served.endpoint_url, ENDPOINT)
    environment["MAX_HEADLINE_CHARS"] = "5000"
    return load_handler(environment)


class Context:
    aws_request_id = "parity"
    function_name = "headlines-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:headlines-api"

    @staticmethod
    def get_remaining_time_in_millis():
        return 28000


def call(handler, method, path, payload=None):
    body = json.dumps(payload).encode() if payload is not None else b""
    event = build_event(method, path, [("Content-Type", "application/json")] if body else [], body, "parity-req")
    result = handler.handler(event, Context())
    for marker in TRACE_MARKERS:
        assert marker not in result["body"], result["body"]
    return result["statusCode"], json.loads(result["body"])


def test_the_lambda_handler_answers_from_the_real_container(lambda_handler):
    status, body = call(lambda_handler, "POST", "/v1/classify", {"headline": "Fed raises interest rates again"})
    assert status == 200
    check_prediction(body)
    status, body = call(lambda_handler, "POST", "/v1/classify",
                        {"headlines": ["New Ebola case confirmed in Guinea"] * 100})
    assert status == 200 and len(body["predictions"]) == 100
    status, body = call(lambda_handler, "GET", "/v1/health")
    assert status == 200 and body["status"] == "ok" and body["model"]["status"] == "InService"


def test_the_models_own_4xx_reaches_callers_without_traceback_text(lambda_handler):
    status, body = call(lambda_handler, "POST", "/v1/classify", {"headline": "x" * 3000})
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert body["error"]["message"] == f"headline 0 is longer than {MAX_CHARS} characters"


def test_the_rest_api_over_http(served):
    parsed = urlparse(served.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.request("POST", "/v1/classify", body=json.dumps({"headline": "Apple unveils a new iPhone"}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200
    check_prediction(answer)


def test_a_model_fn_the_toolkit_rejects_fails_the_start(tiny_model_dir, tmp_path, sagemaker_python):
    """The regression issue 10 found: model_fn returning an object that is not a Gluon Block."""
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    with open(model_dir / "code" / "inference.py", "a", encoding="utf-8") as handle:
        handle.write("\n\nclass PlainModel(object):\n    pass\n\n\ndef model_fn(model_dir):\n    return PlainModel()\n")
    with pytest.raises(LocalServeError, match="Unsupported model type: PlainModel"):
        start_model_server(model_dir, workers=1)


def test_each_worker_loads_the_model_once(tiny_model_dir, sagemaker_python, tmp_path):
    """The MXNet toolkit's handler service calls model_fn twice in a worker (to check the model's
    type, then to serve): the second call gets the first one's model; a changed folder loads again."""
    import os
    import subprocess
    import textwrap

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    script = textwrap.dedent("""
        import os, sys
        model_dir = sys.argv[1]
        sys.path.insert(0, os.path.join(model_dir, "code"))
        import inference
        loads = []
        original = inference.HeadlineModel.__init__
        def counted(self, *args, **kwargs):
            loads.append(model_dir)
            original(self, *args, **kwargs)
        inference.HeadlineModel.__init__ = counted
        from sagemaker_mxnet_serving_container.handler_service import HandlerService
        class Context:
            system_properties = {"model_dir": model_dir, "gpu_id": None}
        HandlerService().initialize(Context())
        started = len(loads)
        os.utime(os.path.join(model_dir, "metrics.json"), ns=(1, 1))
        inference.model_fn(model_dir)
        print(started, len(loads))
    """)
    environment = dict(os.environ, SAGEMAKER_PROGRAM="inference.py")
    environment.pop("PYTHONPATH", None)
    result = subprocess.run([str(sagemaker_python), "-c", script, str(model_dir)], capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "2"]
