"""The local API Gateway stand-in: the proxy events it builds and how it loads the handler."""
from __future__ import annotations

import base64
import os

from headlines.api_front import build_event, handler_environment, load_handler, patched_environ

from api_support import HANDLER_FILE, handler_env


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
