"""Local stand-in for the SageMaker *runtime* API in front of the container (no AWS package
provides one): what the Lambda's boto3 clients reach through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``
and ``AWS_ENDPOINT_URL_SAGEMAKER``.

- ``POST /endpoints/{name}/invocations`` (InvokeEndpoint, rest-json): the body, Content-Type
  and Accept go to the container's ``POST /invocations`` unchanged; a 200 comes back as it is,
  any other answer of the container as SageMaker wraps it: 424 ``ModelError`` with
  ``OriginalStatusCode``, ``OriginalMessage`` (the container's body, traceback included, as the
  toolkit writes it) and ``LogStreamArn``. An unknown endpoint name is a 400 ``ValidationError``,
  a container that does not answer a 503 ``ServiceUnavailable``, one that takes longer than the
  model server's own timeout a 424 ``ModelError`` too. The shapes are botocore's service model's
  (``tests/api/test_runtime_api.py`` parses them with a real boto3 client).
- ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint`` (json 1.1): ``InService`` while
  the container answers ``/ping``, ``OutOfService`` when it does not.
"""
from __future__ import annotations

import http.client
import json
import os
import threading
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote

from headlines.local.http_server import FastHandler, LocalHTTPServer

DEFAULT_ENDPOINT_NAME = "headlines-local"
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
# SageMaker's limit on an InvokeEndpoint payload.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# The model server's own answer timeout (SAGEMAKER_MODEL_SERVER_TIMEOUT's default, 60 s).
CONTAINER_TIMEOUT_SECONDS = 60.0
PING_CACHE_SECONDS = 1.0


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


class ContainerClient:
    """Keep-alive HTTP connections to the container, one per thread."""

    def __init__(self, host: str, port: int, timeout: float = CONTAINER_TIMEOUT_SECONDS):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    def request(self, method: str, path: str, body: Optional[bytes], headers: Dict[str, str],
                timeout: Optional[float] = None) -> Tuple[int, str, bytes]:
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            connection = getattr(self._local, "connection", None)
            if connection is None or timeout is not None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
                if timeout is None:
                    self._local.connection = connection
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if timeout is not None or response.will_close:
                    connection.close()
                    self._local.connection = None
                return response.status, response.getheader("Content-Type") or "application/json", payload
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
            except OSError:
                connection.close()
                self._local.connection = None
                raise
        raise AssertionError("unreachable")


class RuntimeApiHandler(FastHandler):
    server: "RuntimeApiServer"
    max_body_bytes = MAX_PAYLOAD_BYTES
    server_version = "headlines-local-sagemaker"

    def _aws_error(self, status: int, code: str, message: str, **fields: Any) -> None:
        self.send(status, _json({"message": message, **fields}), "application/json",
                  {"x-amzn-ErrorType": code, "x-amzn-RequestId": self.server.next_request_id()})

    def send_error_body(self, status: int, message: str, close: bool = False) -> None:
        # Framing errors, as the service answers them: a ValidationError-shaped body.
        self.send(status, _json({"message": message}), "application/json",
                  {"x-amzn-ErrorType": "ValidationError" if status < 500 else "InternalFailure",
                   "x-amzn-RequestId": self.server.next_request_id()}, close=close)

    def send_too_large(self) -> None:
        self.drain_body()
        self._aws_error(413, "ValidationError", f"Request body exceeds the {MAX_PAYLOAD_BYTES} byte limit.")
        self.close_connection = True

    def do_GET(self) -> None:
        if self.read_body() is None:
            return
        self._aws_error(404, "UnknownOperationException", f"no operation for GET {self.path.split('?', 1)[0]}")

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/endpoints/") and path.endswith("/invocations"):
            self._invoke_endpoint(unquote(path[len("/endpoints/"):-len("/invocations")]), body)
        elif path == "/" and self.headers.get("X-Amz-Target", "").startswith("SageMaker."):
            self._control_plane(self.headers["X-Amz-Target"][len("SageMaker."):], body)
        else:
            self._aws_error(404, "UnknownOperationException", f"no operation for POST {path}")

    # --- InvokeEndpoint -------------------------------------------------------------------------
    def _invoke_endpoint(self, name: str, body: bytes) -> None:
        server = self.server
        if name != server.endpoint_name:
            self._aws_error(400, "ValidationError", f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.")
            return
        headers = {"Content-Type": self.headers.get("Content-Type") or "application/octet-stream"}
        if self.headers.get("Accept"):
            headers["Accept"] = self.headers["Accept"]
        try:
            status, content_type, payload = server.container.request("POST", "/invocations", body, headers)
        except TimeoutError:
            self._model_error(name, 408, "the model server did not answer in time")
            return
        except OSError:
            self._aws_error(503, "ServiceUnavailable", "The endpoint's container is not answering; retry later.")
            return
        if status != 200:
            self._model_error(name, status, payload.decode("utf-8", "replace"))
            return
        self.send(200, payload, content_type, {"x-Amzn-Invoked-Production-Variant": "AllTraffic",
                                               "x-amzn-RequestId": server.next_request_id()})

    def _model_error(self, name: str, status: int, original: str) -> None:
        kind = "client" if status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        self._aws_error(
            424, "ModelError",
            f'Received {kind} error ({status}) from primary with message "{original}". See '
            f"https://{LOCAL_REGION}.console.aws.amazon.com/cloudwatch/home?region={LOCAL_REGION}#logEventViewer:"
            f"group={log_group} in account {LOCAL_ACCOUNT} for more information.",
            ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
            OriginalStatusCode=status,
            OriginalMessage=original,
            LogStreamArn=f"arn:aws:logs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:log-group:{log_group}",
        )

    # --- the control plane (json 1.1): what the health check needs -------------------------------
    def _control_plane(self, operation: str, body: bytes) -> None:
        def error(code: str, message: str) -> None:
            self.send(400, _json({"__type": code, "message": message}), "application/x-amz-json-1.1",
                      {"x-amzn-RequestId": self.server.next_request_id()})

        if operation != "DescribeEndpoint":
            error("UnknownOperationException", f"the local SageMaker API does not implement {operation}")
            return
        try:
            name = json.loads(body or b"{}").get("EndpointName")
        except (ValueError, AttributeError):
            error("SerializationException", "request body is not a JSON object")
            return
        if name != self.server.endpoint_name:
            error("ValidationException", f'Could not find endpoint "{name}".')
            return
        server = self.server
        answer: Dict[str, Any] = {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:endpoint/{name.lower()}",
            "EndpointConfigName": name,
            "EndpointStatus": "InService" if server.container_healthy() else "OutOfService",
            "CreationTime": server.started_at,
            "LastModifiedTime": server.started_at,
        }
        if answer["EndpointStatus"] != "InService":
            answer["FailureReason"] = "the endpoint's container does not answer /ping"
        self.send(200, _json(answer), "application/x-amz-json-1.1", {"x-amzn-RequestId": server.next_request_id()})


class RuntimeApiServer(LocalHTTPServer):
    def __init__(self, address: Tuple[str, int], container_host: str, container_port: int,
                 endpoint_name: str = DEFAULT_ENDPOINT_NAME):
        self.endpoint_name = endpoint_name
        self.container = ContainerClient(container_host, container_port)
        self.started_at = time.time()
        self._ids = 0
        self._lock = threading.Lock()
        self._ping: Tuple[float, bool] = (0.0, False)
        super().__init__(address, RuntimeApiHandler)

    def container_healthy(self) -> bool:
        checked_at, healthy = self._ping
        if time.monotonic() - checked_at > PING_CACHE_SECONDS:
            try:
                status, _, _ = self.container.request("GET", "/ping", None, {}, timeout=2.0)
                healthy = status == 200
            except OSError:
                healthy = False
            self._ping = (time.monotonic(), healthy)
        return healthy

    def next_request_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"local-{os.getpid()}-{self._ids:08d}"
