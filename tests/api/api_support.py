"""Helpers for the API and serving tests: the OpenAPI contract as a response validator, the
Lambda handler loaded under a chosen environment, Lambda events, and a stand-in model.

Nothing here reaches AWS: every handler is loaded either with its clients stubbed (botocore
Stubber) or pointed at a loopback server, and with ``AWS_ENDPOINT_URL`` on a closed loopback
port as a backstop.
"""
from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from headlines.local.api_front import load_handler
from headlines.project import OPENAPI_PATH

REPO = Path(__file__).resolve().parents[2]
OPENAPI_FILE = OPENAPI_PATH
HANDLER_FILE = REPO / "functions" / "api" / "app.py"
FAKE_INFERENCE = Path(__file__).with_name("fake_inference.py")
CLOSED_PORT_URL = "http://127.0.0.1:9"


class Contract:
    """Validates responses against the OpenAPI document's schemas."""

    def __init__(self, path: Path = OPENAPI_FILE):
        self.document = yaml.safe_load(path.read_text(encoding="utf-8"))

    def _resolve(self, node: Dict[str, Any]) -> Dict[str, Any]:
        while "$ref" in node:
            pointer = node["$ref"].lstrip("#/").split("/")
            node = self.document
            for part in pointer:
                node = node[part]
        return node

    def schema(self, method: str, path: str, status: int) -> Optional[Dict[str, Any]]:
        """The response schema the contract gives (None when the status is not documented)."""
        operation = self.document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return None
        response = operation["responses"].get(str(status))
        if response is None:
            return None
        return self._resolve(response)

    def validate(self, method: str, path: str, status: int, headers: Mapping[str, Any], body: Any) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower.get("x-request-id"), f"no X-Request-Id in {headers}"
        assert "traceback" not in json.dumps(body).lower()
        if status >= 400:
            self.validate_error(status, lower, body)
        response = self.schema(method, path, status)
        if response is None:
            assert status in (404, 405, 500), f"{status} is not documented for {method} {path}"
            return
        for name, header in response.get("headers", {}).items():
            if name == "Retry-After" or name == "X-Request-Id":
                assert name.lower() in lower, f"{status} without {name}"
                value = lower[name.lower()]
                if isinstance(value, list):
                    value = value[0]
                if self._resolve(header)["schema"].get("type") == "integer":
                    assert int(value) >= 1
        media = response["content"]["application/json"]
        schema = {**self._resolve(media["schema"]), "components": self.document["components"]}
        OAS30Validator(schema).validate(body)

    def validate_error(self, status: int, headers: Mapping[str, Any], body: Any) -> None:
        error_schema = {**self.document["components"]["schemas"]["Error"], "components": self.document["components"]}
        OAS30Validator(error_schema).validate(body)
        request_id = headers.get("x-request-id")
        if isinstance(request_id, list):
            request_id = request_id[0]
        assert body["error"]["request_id"] == request_id


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


class LambdaContext:
    function_name = "headlines-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:headlines-api"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/headlines-api"
    log_stream_name = "test"

    def __init__(self) -> None:
        self.aws_request_id = "lambda-" + uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return 28000


def make_event(method: str = "POST", path: str = "/v1/classify", body: Any = None,
               headers: Optional[Dict[str, str]] = None, request_id: Optional[str] = "api-req-1",
               base64_body: bool = False, json_body: bool = True) -> Dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as API Gateway sends it."""
    if headers is None:
        headers = {"Content-Type": "application/json"} if body is not None else {}
    if body is not None and not isinstance(body, (str, bytes)) and json_body:
        body = json.dumps(body)
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
    elif base64_body and body is not None:
        body = base64.b64encode(body.encode("utf-8")).decode()
    event: Dict[str, Any] = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": request_id, "stage": "test", "httpMethod": method,
                           "path": "/test" + path, "resourcePath": path, "identity": {"sourceIp": "127.0.0.1"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }
    if request_id is None:
        del event["requestContext"]["requestId"]
    return event


class Answer:
    """A handler result, decoded."""

    def __init__(self, result: Dict[str, Any]):
        self.raw = result
        self.status: int = result["statusCode"]
        headers: Dict[str, str] = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        self.headers = headers
        self.text: str = result.get("body") or ""
        self.json = json.loads(self.text) if self.text else None

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def handler_env(**overrides: Optional[str]) -> Dict[str, Optional[str]]:
    env: Dict[str, Optional[str]] = {
        "ENDPOINT_NAME": "headlines-test",
        "MAX_HEADLINE_CHARS": "500",
        "MAX_BATCH_SIZE": "100",
        "ENDPOINT_TIMEOUT_SECONDS": "10",
        "MODEL_VERSION": "test-version",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": CLOSED_PORT_URL,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": CLOSED_PORT_URL,
        "AWS_ENDPOINT_URL_SAGEMAKER": CLOSED_PORT_URL,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "headlines-api",
    }
    env.update(overrides)
    return env


def load_app(**overrides: Optional[str]):
    """A fresh import of functions/api/app.py (a cold start) under the test environment."""
    return load_handler(handler_env(**overrides), HANDLER_FILE)


@pytest.fixture
def app_module():
    return load_app()


@pytest.fixture(scope="session")
def fake_model_dir(tmp_path_factory) -> Path:
    """An artifact folder whose code/inference.py is the stand-in of fake_inference.py."""
    root = tmp_path_factory.mktemp("fake-model")
    (root / "code").mkdir()
    shutil.copy(FAKE_INFERENCE, root / "code" / "inference.py")
    (root / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "macro_f1": 0.4}), encoding="utf-8")
    (root / "slow_seconds").write_text("2", encoding="utf-8")
    for name in ("model-symbol.json", "model-0000.params", "vocab.json", "labels.json"):  # a whole artifact's names
        (root / name).write_text("{}", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def fake_container(fake_model_dir):
    """The real serving toolkit behind Multi Model Server, serving the stand-in model, with the
    local SageMaker runtime API in front (endpoint name ``headlines-test``)."""
    from headlines.local import container_env
    from headlines.local.endpoint import start_model_server
    from headlines.local.http_server import start_in_thread
    from headlines.local.runtime_api import RuntimeApiServer

    reason = container_env.available()
    if reason:
        pytest.skip(reason)
    server = start_model_server(fake_model_dir, workers=2)
    runtime = RuntimeApiServer(("127.0.0.1", 0), server.host, server.port, "headlines-test")
    stop_runtime = start_in_thread(runtime)
    yield server, f"http://127.0.0.1:{runtime.port}"
    stop_runtime()
    server.stop()


def invoke(module, event: Dict[str, Any]) -> Answer:
    return Answer(module.handler(event, LambdaContext()))
