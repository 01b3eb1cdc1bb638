"""The local API Gateway stand-in: the proxy events it builds and how it loads the handler."""
from __future__ import annotations

import base64
import json
import os
import socket
import time

import pytest
from api_support import CLOSED_PORT_URL, HANDLER_FILE, handler_env

from headlines.local.api_front import (
    FrontHandler,
    LocalServeError,
    build_event,
    handler_environment,
    load_handler,
    make_api_front,
    patched_environ,
)
from headlines.local.http_server import start_in_thread


def test_rest_proxy_event_shape():
    event = build_event("POST", "/v1/classify?a=1&a=2&b=", [("Host", "localhost:8080"), ("X-Multi", "1"),
                                                             ("X-Multi", "2"), ("Content-Type", "application/json")],
                        b'{"headline": "h\xc3\xa9"}', "req-123", "10.0.0.1")
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/v1/classify" and event["resource"] == "/v1/classify"
    assert event["headers"]["X-Multi"] == "2" and event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["body"] == '{"headline": "hé"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "req-123" and context["httpMethod"] == "POST"
    assert context["identity"]["sourceIp"] == "10.0.0.1" and context["stage"] == "local"
    assert context["path"] == "/local/v1/classify"


def test_binary_and_empty_bodies():
    event = build_event("POST", "/v1/classify", [], b"\xff\x00\xfe", "r")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\x00\xfe"
    event = build_event("GET", "/v1/health", [], b"", "r")
    assert event["body"] is None and event["queryStringParameters"] is None


def test_unknown_paths_go_to_a_proxy_resource():
    event = build_event("GET", "/v1/nothing%20here", [], b"", "r")
    assert event["resource"] == "/{proxy+}" and event["path"] == "/v1/nothing here"
    assert event["pathParameters"] == {"proxy": "v1/nothing here"}


def test_handler_environment_points_only_at_loopback():
    env = handler_environment("http://127.0.0.1:12345")
    assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:12345"
    assert env["AWS_ENDPOINT_URL_SAGEMAKER"] == "http://127.0.0.1:12345"
    assert env["MAX_HEADLINE_CHARS"] == "500" and env["MAX_BATCH_SIZE"] == "100"
    assert env["ENDPOINT_TIMEOUT_SECONDS"] == "10.0"


def test_the_handler_gets_the_model_version_train_py_wrote(tmp_path):
    from headlines.local.api_front import _model_version

    (tmp_path / "metrics.json").write_text('{"model_version": "3f9c2a1b7d4e5f60", "version": "other"}')
    assert _model_version(tmp_path) == "3f9c2a1b7d4e5f60"
    (tmp_path / "metrics.json").write_text('{"version": "not the artifact identity"}')
    assert _model_version(tmp_path) is None and _model_version(None) is None


def test_loading_the_handler_leaves_the_environment_as_it_was():
    before = dict(os.environ)
    module = load_handler(handler_env(ENDPOINT_NAME="scoped-name"), HANDLER_FILE)
    assert module.ENDPOINT_NAME == "scoped-name"
    assert module.runtime.meta.endpoint_url == "http://127.0.0.1:9"
    assert dict(os.environ) == before


def test_patched_environ_restores_and_unsets():
    os.environ["HEADLINES_TEST_KEEP"] = "1"
    try:
        with patched_environ({"HEADLINES_TEST_KEEP": None, "HEADLINES_TEST_NEW": "x"}):
            assert "HEADLINES_TEST_KEEP" not in os.environ and os.environ["HEADLINES_TEST_NEW"] == "x"
        assert os.environ["HEADLINES_TEST_KEEP"] == "1" and "HEADLINES_TEST_NEW" not in os.environ
    finally:
        del os.environ["HEADLINES_TEST_KEEP"]


# --- the HTTP front itself: framing, deadlines, the handler pool ----------------------------------


@pytest.fixture(scope="module")
def front():
    """The front with one handler process, its endpoint on a closed port (the handler answers
    503 there): enough for everything the front decides itself."""
    server = make_api_front(CLOSED_PORT_URL, port=0, handler_workers=2)
    stop = start_in_thread(server)
    yield server
    stop()
    server.pool.close()


def exchange(port, data: bytes, wait: float = 15.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_json(answer: bytes):
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


HEAD = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",       # negative chunk size
    HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",       # not hexadecimal
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",          # no CRLF after a chunk
    HEAD + b"Content-Length: -1\r\n\r\n{}",
    HEAD + b"Content-Length: 1e3\r\n\r\n{}",
    HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    HEAD + b"Transfer-Encoding: gzip\r\n\r\n{}",
    b"NONSENSE\r\n\r\n",
])
def test_malformed_requests_are_400_json(front, request_bytes):
    status, body = status_and_json(exchange(front.port, request_bytes))
    assert status == 400 and body["error"]["code"] == "bad_request"


def test_a_slow_client_gets_408_at_the_deadline(front, monkeypatch):
    monkeypatch.setattr(FrontHandler, "request_deadline_seconds", 0.5)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n{")  # and never the rest
        answer = sock.recv(65536)
        assert sock.recv(65536) == b""  # then the connection is closed
    assert time.monotonic() - started < 5
    status, body = status_and_json(answer)
    assert status == 408 and body["error"]["code"] == "timeout"


def test_a_slow_header_sender_is_cut_off_too(front, monkeypatch):
    monkeypatch.setattr(FrontHandler, "request_deadline_seconds", 0.5)
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
        for _ in range(20):
            time.sleep(0.1)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        answer = sock.recv(65536)
    assert answer.split()[1] == b"408"


def test_requests_are_spread_over_handler_processes(front):
    """Two events at once run in two handler processes (a busy one never queues the second).
    Slow tasks make that certain: fast ones may all fit into one process's idle moments."""
    from headlines.local.api_front import build_event

    event = build_event("GET", "/v1/health", [], b"", "r")
    busy = [front.pool._executor.submit(time.sleep, 1.0) for _ in range(2)]
    for task in busy:
        task.result()
    assert len(front.pool._executor._processes) == 2
    assert front.pool.invoke(event)["statusCode"] == 200


def test_a_port_out_of_range_is_one_line():
    with pytest.raises(LocalServeError, match="out of range"):
        make_api_front(CLOSED_PORT_URL, port=70000)
