"""The Lambda handler on API Gateway events: validation, routing, request ids, the happy path.

The endpoint is botocore-stubbed here: a validation failure must never reach it (a Stubber
with nothing queued fails the call, which would show as a 503, not the expected 400).
"""
from __future__ import annotations

import io
import json

import pytest
from api_support import invoke, load_app, make_event
from botocore.response import StreamingBody
from botocore.stub import Stubber

ONE = "Fed raises interest rates again"
LABELS = [("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health")]


def model_answer(count: int, version: str = "20261128-abc") -> bytes:
    predictions = []
    for i in range(count):
        label, category = LABELS[i % 4]
        scores = {name: 0.1 for _, name in LABELS}
        scores[category] = 0.7
        predictions.append({"label": label, "category": category, "confidence": 0.7, "scores": scores})
    return json.dumps({"predictions": predictions,
                       "model": {"version": version, "test_accuracy": 0.9, "test_macro_f1": 0.85}}).encode()


def queue_answer(stub: Stubber, headlines, body: bytes = None, endpoint: str = "headlines-test") -> None:
    body = body if body is not None else model_answer(len(headlines))
    stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json",
         "InvokedProductionVariant": "AllTraffic"},
        expected_params={"EndpointName": endpoint, "ContentType": "application/json",
                         "Accept": "application/json", "Body": json.dumps({"headlines": headlines}, separators=(",", ":"))},
    )


def test_one_headline(app_module, contract):
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [ONE])
        answer = invoke(app_module, make_event(body={"headline": ONE}))
        stub.assert_no_pending_responses()
    assert answer.status == 200, answer.text
    contract.validate("POST", "/v1/classify", 200, answer.headers, answer.json)
    assert answer.json["category"] == "business" and answer.json["label"] == "b"
    assert answer.json["model"] == {"version": "20261128-abc", "test_accuracy": 0.9, "test_macro_f1": 0.85}
    assert answer.header("X-Request-Id") == "api-req-1"


def test_batch_keeps_order(app_module, contract):
    headlines = [f"headline number {i}" for i in range(7)]
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, headlines)
        answer = invoke(app_module, make_event(body={"headlines": headlines}))
    assert answer.status == 200, answer.text
    contract.validate("POST", "/v1/classify", 200, answer.headers, answer.json)
    assert [p["label"] for p in answer.json["predictions"]] == [LABELS[i % 4][0] for i in range(7)]


def test_limits_are_inclusive(app_module, contract):
    longest = "x" * 500
    batch = ["a headline"] * 100
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [longest])
        queue_answer(stub, batch)
        assert invoke(app_module, make_event(body={"headline": longest})).status == 200
        assert invoke(app_module, make_event(body={"headlines": batch})).status == 200


def test_model_version_falls_back_to_environment(app_module, contract):
    body = json.dumps({"predictions": json.loads(model_answer(1))["predictions"]}).encode()
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [ONE], body)
        answer = invoke(app_module, make_event(body={"headline": ONE}))
    assert answer.status == 200
    assert answer.json["model"] == {"version": "test-version"}


@pytest.mark.parametrize("body, message", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[\"a list\"]", "must be a JSON object"),
    ("\"a string\"", "must be a JSON object"),
    ("null", "must be a JSON object"),
    ("[" * 5000 + "]" * 5000, "not valid JSON"),
    ({}, "'headline' or 'headlines' is required"),
    ({"headline": ONE, "extra": 1}, "unknown field"),
    ({"headline": ONE, "headlines": [ONE]}, "not both"),
    ({"headline": None}, "must be a string"),
    ({"headline": 42}, "must be a string"),
    ({"headline": ["a"]}, "must be a string"),
    ({"headline": ""}, "must not be empty"),
    ({"headline": "   \t\n "}, "must not be empty"),
    ({"headline": "\u3000\u00a0\u2003"}, "must not be empty"),
    ({"headline": "x" * 501}, "longer than 500"),
    ({"headlines": "not a list"}, "must be an array"),
    ({"headlines": []}, "must not be empty"),
    ({"headlines": [ONE] * 101}, "at most 100"),
    ({"headlines": [ONE, 3]}, "'headlines[1]' must be a string"),
    ({"headlines": [ONE, " "]}, "'headlines[1]' must not be empty"),
    ({"headlines": [ONE, "y" * 501]}, "'headlines[1]' is longer"),
])
def test_bad_input_is_400(app_module, contract, body, message):
    with Stubber(app_module.runtime):  # nothing queued: reaching the endpoint would fail the test
        answer = invoke(app_module, make_event(body=body))
    assert answer.status == 400, answer.text
    contract.validate("POST", "/v1/classify", 400, answer.headers, answer.json)
    assert answer.json["error"]["code"] == "bad_request"
    assert message in answer.json["error"]["message"]


def test_missing_body_is_400(app_module, contract):
    answer = invoke(app_module, make_event(body=None, headers={}))
    assert answer.status == 400
    contract.validate("POST", "/v1/classify", 400, answer.headers, answer.json)


def test_invalid_utf8_and_base64(app_module, contract):
    answer = invoke(app_module, make_event(body=b'{"headline": "\xff\xfe"}', base64_body=True))
    assert answer.status == 400 and "UTF-8" in answer.json["error"]["message"]
    event = make_event(body="{}")
    event["body"], event["isBase64Encoded"] = "***not base64***", True
    answer = invoke(app_module, event)
    assert answer.status == 400 and "base64" in answer.json["error"]["message"]
    contract.validate("POST", "/v1/classify", 400, answer.headers, answer.json)


def test_base64_body_is_accepted(app_module, contract):
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [ONE])
        answer = invoke(app_module, make_event(body={"headline": ONE}, base64_body=True))
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("size", [64 * 1024 + 1, 300 * 1024])
@pytest.mark.parametrize("base64_body", [False, True])
def test_body_over_64_kib_is_413(app_module, contract, size, base64_body):
    body = '{"headline": "' + "x" * (size - 16) + '"}'
    answer = invoke(app_module, make_event(body=body, base64_body=base64_body))
    assert answer.status == 413
    contract.validate("POST", "/v1/classify", 413, answer.headers, answer.json)
    assert answer.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x",
                                          "text/csv"])
def test_other_media_types_are_415(app_module, contract, content_type):
    answer = invoke(app_module, make_event(body={"headline": ONE}, headers={"Content-Type": content_type}))
    assert answer.status == 415
    contract.validate("POST", "/v1/classify", 415, answer.headers, answer.json)
    assert answer.json["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json; charset=utf-8"},
    {"content-type": "APPLICATION/JSON"},
    {"Content-Type": "application/x-www-form-urlencoded"},  # curl -d's default
    {"Content-Type": "application/vnd.api+json"},
    {},
])
def test_json_media_types_are_accepted(app_module, headers):
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [ONE])
        answer = invoke(app_module, make_event(body={"headline": ONE}, headers=headers))
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", "/v1/classify", 405, "POST, OPTIONS"),
    ("DELETE", "/v1/classify", 405, "POST, OPTIONS"),
    ("POST", "/v1/health", 405, "GET, OPTIONS"),
    ("POST", "/", 405, "GET, OPTIONS"),  # GET / is the page (tests/api/test_page.py)
    ("GET", "/v2/classify", 404, None),
    ("POST", "/v1/classify/extra", 404, None),
])
def test_unknown_routes_and_methods(app_module, contract, method, path, status, allow):
    answer = invoke(app_module, make_event(method=method, path=path, body=None))
    assert answer.status == status
    contract.validate(method, path, status, answer.headers, answer.json)
    assert answer.json["error"]["code"] == ("not_found" if status == 404 else "method_not_allowed")
    assert answer.header("Allow") == allow


def test_cors_preflight_and_headers(app_module):
    answer = invoke(app_module, make_event(method="OPTIONS", body=None,
                                           headers={"Origin": "https://example.org",
                                                    "Access-Control-Request-Method": "POST"}))
    assert answer.status == 204
    assert answer.header("Access-Control-Allow-Origin") == "*"
    assert "POST" in answer.header("Access-Control-Allow-Methods")
    assert answer.header("X-Request-Id") == "api-req-1"
    bad = invoke(app_module, make_event(body="{", headers={"Content-Type": "application/json",
                                                           "Origin": "https://example.org"}))
    assert bad.header("Access-Control-Allow-Origin") == "*"
    assert "X-Request-Id" in bad.header("Access-Control-Expose-Headers")


def test_request_id_falls_back_to_the_lambda_request_id(app_module, contract):
    answer = invoke(app_module, make_event(body="{", request_id=None))
    assert answer.status == 400
    assert answer.header("X-Request-Id").startswith("lambda-")
    contract.validate("POST", "/v1/classify", 400, answer.headers, answer.json)


def test_unexpected_errors_are_500_without_details(app_module, contract, monkeypatch):
    def explode(_):
        raise RuntimeError("secret detail at /var/task/app.py line 1")

    monkeypatch.setattr(app_module, "invoke_endpoint", explode)
    answer = invoke(app_module, make_event(body={"headline": ONE}))
    assert answer.status == 500
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert answer.json["error"]["code"] == "internal_error"
    assert answer.json["error"]["request_id"] == answer.header("X-Request-Id")


def test_a_broken_event_is_still_a_json_500(app_module):
    answer = invoke(app_module, {"not": "an api gateway event"})
    assert answer.status in (404, 500)
    assert answer.json["error"]["request_id"] == answer.header("X-Request-Id")


def test_limits_come_from_the_environment(contract):
    module = load_app(MAX_HEADLINE_CHARS="10", MAX_BATCH_SIZE="2")
    assert invoke(module, make_event(body={"headline": "x" * 11})).status == 400
    assert invoke(module, make_event(body={"headlines": ["a", "b", "c"]})).status == 400
    with Stubber(module.runtime) as stub:
        queue_answer(stub, ["a", "b"])
        assert invoke(module, make_event(body={"headlines": ["a", "b"]})).status == 200


@pytest.mark.parametrize("overrides, message", [
    ({"MAX_HEADLINE_CHARS": None}, "MAX_HEADLINE_CHARS is not set"),
    ({"MAX_BATCH_SIZE": ""}, "MAX_BATCH_SIZE is not set"),
    ({"MAX_HEADLINE_CHARS": "many"}, "MAX_HEADLINE_CHARS='many' is not a whole number"),
    ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE='0' must be at least 1"),
])
def test_a_missing_or_bad_limit_fails_the_cold_start(overrides, message):
    """No literal fallback: the limits come from cdk.json through the environment, or the
    function does not start (one line naming the variable and the setting)."""
    with pytest.raises(Exception) as raised:
        load_app(**overrides)
    assert type(raised.value).__name__ == "SettingsError"
    assert message in str(raised.value) and "cdk.json headlines.api." in str(raised.value)


def test_a_bad_endpoint_timeout_falls_back_to_the_default():
    assert load_app(ENDPOINT_TIMEOUT_SECONDS="-1").SETTINGS.endpoint_timeout_seconds == 10.0


def test_health_reports_the_endpoint_status(app_module, contract):
    with Stubber(app_module.endpoint.control()) as stub:
        stub.add_response("describe_endpoint", {
            "EndpointName": "headlines-test", "EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/headlines-test",
            "EndpointStatus": "InService", "CreationTime": 0, "LastModifiedTime": 0,
        }, expected_params={"EndpointName": "headlines-test"})
        answer = invoke(app_module, make_event(method="GET", path="/v1/health", body=None))
        # Cached for a few seconds: DescribeEndpoint has a low request rate.
        again = invoke(app_module, make_event(method="GET", path="/v1/health", body=None))
    assert answer.status == 200 and again.json == answer.json
    contract.validate("GET", "/v1/health", 200, answer.headers, answer.json)
    assert answer.json == {"status": "ok", "model": {"status": "InService", "endpoint": "headlines-test",
                                                     "version": "test-version"}}


@pytest.mark.parametrize("status", ["Updating", "Creating", "Failed"])
def test_health_is_degraded_when_the_endpoint_is_not_in_service(app_module, contract, status):
    with Stubber(app_module.endpoint.control()) as stub:
        stub.add_response("describe_endpoint", {
            "EndpointName": "headlines-test", "EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/x",
            "EndpointStatus": status, "CreationTime": 0, "LastModifiedTime": 0})
        answer = invoke(app_module, make_event(method="GET", path="/v1/health", body=None))
    assert answer.status == 200
    contract.validate("GET", "/v1/health", 200, answer.headers, answer.json)
    assert answer.json["status"] == "degraded" and answer.json["model"]["status"] == status


def test_health_when_the_endpoint_is_missing(app_module, contract):
    with Stubber(app_module.endpoint.control()) as stub:
        stub.add_client_error("describe_endpoint", service_error_code="ValidationException",
                              service_message='Could not find endpoint "headlines-test".', http_status_code=400)
        answer = invoke(app_module, make_event(method="GET", path="/v1/health", body=None))
    assert answer.status == 200
    contract.validate("GET", "/v1/health", 200, answer.headers, answer.json)
    assert answer.json["status"] == "degraded" and answer.json["model"]["status"] == "unreachable"


def test_endpoint_call_uses_bounded_timeouts(app_module):
    config = app_module.runtime.meta.config
    assert config.read_timeout == 10.0 and config.connect_timeout == 2.0
    attempts = config.retries["total_max_attempts"]
    backoff = sum(min(20, 2 ** i) for i in range(attempts - 1))
    assert attempts * (config.read_timeout + config.connect_timeout) + backoff < 28


@pytest.mark.parametrize("seconds", ["0.5", "4", "5", "6.3", "7", "12", "27", "40"])
def test_worst_case_stays_under_api_gateway_timeout(seconds):
    config = load_app(ENDPOINT_TIMEOUT_SECONDS=seconds).runtime.meta.config
    attempts = config.retries["total_max_attempts"]
    backoff = sum(min(20, 2 ** i) for i in range(attempts - 1))
    assert attempts >= 1
    # under the function's 28 s timeout (infra/api_function.py), itself under API Gateway's 29 s
    assert attempts * (config.read_timeout + config.connect_timeout) + backoff < 28


def test_nothing_is_sent_for_bad_input_even_without_stubs(contract):
    """Belt and braces: the unstubbed client points at a closed port, never at AWS."""
    module = load_app()
    assert module.runtime.meta.endpoint_url == "http://127.0.0.1:9"
    answer = invoke(module, make_event(body={"headline": ONE}))
    assert answer.status == 503  # connection refused -> unavailable, with Retry-After
    contract.validate("POST", "/v1/classify", 503, answer.headers, answer.json)


def test_the_function_imports_only_boto3_powertools_pydantic_and_its_vendored_pins():
    """What the Lambda runtime and the Powertools layer provide, the function's own modules, and
    what its requirements.txt pins (vendored into the asset at synthesis: infra/functions.py)."""
    import sys
    from pathlib import Path

    folder = Path(load_app().__file__).parent
    own = {path.stem for path in folder.glob("*.py")}
    vendored = {line.split("==")[0].strip().lower().replace("-", "_")
                for line in (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if line.split("#")[0].strip()}
    imports = set()
    for source in folder.glob("*.py"):
        imports |= {line.split()[1].split(".")[0] for line in source.read_text(encoding="utf-8").splitlines()
                    if line.startswith(("import ", "from "))}
    third_party = imports - own - set(sys.stdlib_module_names)
    assert vendored == {"defusedxml"}  # pure Python: the same files on Lambda's platform
    assert third_party == {"boto3", "botocore", "aws_lambda_powertools", "pydantic", "pydantic_core"} | vendored


def test_the_request_is_validated_by_powertools_against_the_pydantic_model(app_module):
    """enable_validation with the body declared as the pydantic model: what the route gets."""
    route = next(route for route in app_module.app._static_routes if route.path == "/v1/classify")
    assert app_module.app._enable_validation
    assert route.dependant.body_params[0].type_ is app_module.ClassifyRequest
    assert app_module.ClassifyRequest.limits == (500, 100)


@pytest.mark.parametrize("headline", ["\u200b", "a", "\u00a0a\u3000", "!", "\x00"])
def test_a_headline_with_any_visible_or_non_space_character_is_valid(app_module, headline):
    with Stubber(app_module.runtime) as stub:
        queue_answer(stub, [headline])
        answer = invoke(app_module, make_event(body={"headline": headline}))
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("headline", ["\ufeff", "\u2028\u2029", "\u1680 \u205f", "\v\f", "\u0085", "\x1c\x1f"])
def test_blank_means_what_the_contract_pattern_says(app_module, contract, headline):
    """ECMAScript whitespace (the contract's regex dialect) and Python whitespace (what the
    model's input_fn strips) are both blank; the contract's pattern names the difference."""
    import re

    pattern = contract.document["components"]["schemas"]["Headline"]["pattern"]
    assert re.search(pattern, headline) is None
    answer = invoke(app_module, make_event(body={"headline": headline}))
    assert answer.status == 400 and "empty" in answer.json["error"]["message"]


@pytest.mark.parametrize("headers, body, status", [
    ({"Content-Type": "text/plain"}, {"headline": ONE}, 415),
    ({"Content-Type": "application/json"}, "x" * (64 * 1024 + 1), 413),
])
def test_bodies_refused_before_routing_still_carry_cors_headers(app_module, contract, headers, body, status):
    answer = invoke(app_module, make_event(body=body, headers={**headers, "Origin": "https://example.org"}))
    assert answer.status == status
    contract.validate("POST", "/v1/classify", status, answer.headers, answer.json)
    assert answer.header("Access-Control-Allow-Origin") == "*"
    assert "X-Request-Id" in answer.header("Access-Control-Expose-Headers")
