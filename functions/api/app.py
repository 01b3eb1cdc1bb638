"""The public REST API (API Gateway REST proxy -> this Lambda -> the SageMaker endpoint).

Routes (the contract is ``api/openapi.yaml``):

- ``POST /v1/classify`` ``{"headline": "..."}`` or ``{"headlines": ["...", ...]}``
- ``GET /v1/health``
- ``GET /`` and ``GET /static/{file}``: the page for people (``page.py``)

Every response carries ``X-Request-Id`` (API Gateway's request id, else the Lambda's);
errors are ``{"error": {"code", "message", "request_id"}}``. Bad input is a 4xx, decided here
before the endpoint is called; endpoint failures map to 502 (the model's own error), 429
(throttled), 503 (unavailable, no capacity, misconfigured; with ``Retry-After``) and 504
(timeout). No stack trace ever reaches a caller.

Configuration (environment): ``ENDPOINT_NAME``, ``MAX_HEADLINE_CHARS``, ``MAX_BATCH_SIZE``,
``ENDPOINT_TIMEOUT_SECONDS`` (boto3 read timeout; retries are bounded so that the worst case
stays under API Gateway's 29 s integration timeout), ``MODEL_VERSION``, optional
``CORS_ALLOW_ORIGINS`` (comma-separated, default ``*``). In local mode the boto3 clients are
pointed at the local SageMaker runtime API with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` (invocations)
and ``AWS_ENDPOINT_URL_SAGEMAKER`` (the health check's DescribeEndpoint), so this file runs
unchanged in both places.

Dependencies: boto3 (in the Lambda runtime) and AWS Lambda Powertools (the public layer);
nothing else third-party.
"""
from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import math
import os
import time
import uuid
import warnings
from typing import Any, Dict, List, Optional, Tuple

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "headlines-api")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Headlines")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
# An own provider: Metrics() instances otherwise share one class-level metric set.
metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE))
# Decided once (local mode turns metrics off while importing this file): Powertools' own
# switch is read at each flush, and when off it never clears the metric set.
METRICS_ENABLED = not is_metrics_disabled()

# API Gateway's integration timeout; the endpoint call must give up well before it (and
# before the function's own timeout, 28 s in infra/api.py).
GATEWAY_TIMEOUT_SECONDS = 29.0
ENDPOINT_BUDGET_SECONDS = 24.0
MAX_BODY_BYTES = 64 * 1024
ACCEPTED_MEDIA_TYPES = (
    "application/json",
    # curl -d sends this by default; the body must still be JSON.
    "application/x-www-form-urlencoded",
)
ROUTES = {"/v1/classify": ("POST",), "/v1/health": ("GET",)}
HEALTH_CACHE_SECONDS = 5.0
RETRY_AFTER_THROTTLED = 1
RETRY_AFTER_UNAVAILABLE = 5
RETRY_AFTER_MISCONFIGURED = 30


def _env_number(name: str, default: float, cast=int, minimum: float = 1) -> Any:
    raw = os.environ.get(name, "")
    try:
        value = cast(raw) if raw.strip() else default
    except ValueError:
        logger.warning("ignoring %s=%r: not a number", name, raw)
        value = default
    if not value >= minimum or (isinstance(value, float) and not math.isfinite(value)):
        logger.warning("ignoring %s=%r: below %s", name, raw, minimum)
        value = default
    return value


ENDPOINT_NAME = os.environ.get("ENDPOINT_NAME", "headlines")
MAX_HEADLINE_CHARS = _env_number("MAX_HEADLINE_CHARS", 500)
MAX_BATCH_SIZE = _env_number("MAX_BATCH_SIZE", 100)
MODEL_VERSION = os.environ.get("MODEL_VERSION", "")
ENDPOINT_TIMEOUT_SECONDS = _env_number("ENDPOINT_TIMEOUT_SECONDS", 10.0, float, 0.05)
if ENDPOINT_TIMEOUT_SECONDS > ENDPOINT_BUDGET_SECONDS:
    logger.warning("ENDPOINT_TIMEOUT_SECONDS=%s is too close to API Gateway's %s s; using %s",
                   ENDPOINT_TIMEOUT_SECONDS, GATEWAY_TIMEOUT_SECONDS, ENDPOINT_BUDGET_SECONDS)
    ENDPOINT_TIMEOUT_SECONDS = ENDPOINT_BUDGET_SECONDS
CONNECT_TIMEOUT_SECONDS = min(2.0, ENDPOINT_TIMEOUT_SECONDS)
# Worst case: attempts x (connect + read) <= ENDPOINT_BUDGET_SECONDS, plus standard-mode
# backoff (< 1 s, then < 2 s): at most 27 s.
ENDPOINT_MAX_ATTEMPTS = max(1, min(3, int(ENDPOINT_BUDGET_SECONDS // (ENDPOINT_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS))))
CORS_ALLOW_ORIGINS = [o.strip() for o in os.environ.get("CORS_ALLOW_ORIGINS", "*").split(",") if o.strip()] or ["*"]

# Clients are made once per execution environment. The session caches the credentials it
# resolves, and the health check's client (made on first use, to keep cold starts short)
# gets the region and endpoint captured now.
_session = boto3.session.Session()
runtime = _session.client(
    "sagemaker-runtime",
    config=Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=ENDPOINT_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": ENDPOINT_MAX_ATTEMPTS},
        max_pool_connections=32,
        tcp_keepalive=True,
    ),
)
_CONTROL_REGION = _session.region_name
_CONTROL_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER") or os.environ.get("AWS_ENDPOINT_URL") or None
_control_client = None
_health_cache: Dict[str, Any] = {}

app = APIGatewayRestResolver(
    cors=CORSConfig(
        allow_origin=CORS_ALLOW_ORIGINS[0],
        extra_origins=CORS_ALLOW_ORIGINS[1:] or None,
        expose_headers=["X-Request-Id", "Retry-After"],
        max_age=600,
    ),
)


def _load_page():
    # page.py (GET / and its files) sits next to this file. Loaded by path: local mode and the
    # tests import this file by path, not from a folder on sys.path as the Lambda runtime does.
    spec = importlib.util.spec_from_file_location(f"{__name__}_page", os.path.join(os.path.dirname(__file__), "page.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


page = _load_page()
page.add_routes(app)


class ApiError(Exception):
    """An answer other than 200, with the contract's error code."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[int] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or {}


def _request_id() -> str:
    return app.context.get("request_id", "")


def _json_response(status: int, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> Response:
    return Response(status_code=status, content_type="application/json",
                    body=json.dumps(body, separators=(",", ":")), headers=headers)


def _error_response(error: ApiError) -> Response:
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    body = {"error": {"code": error.code, "message": error.message, "request_id": _request_id()}}
    return _json_response(error.status, body, headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


# --- request validation --------------------------------------------------------------------
def _read_body() -> bytes:
    event = app.current_event
    raw = event.get("body")
    if raw is None:
        raise bad_request("a JSON body is required")
    if event.get("isBase64Encoded"):
        if len(raw) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise ApiError(413, "payload_too_large", f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("the request body is not valid base64") from None
    else:
        body = raw.encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")
    return body


def _check_media_type() -> None:
    content_type = app.current_event.headers.get("content-type")
    if not content_type:
        return  # no Content-Type: taken as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ACCEPTED_MEDIA_TYPES or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    raise ApiError(415, "unsupported_media_type",
                   f"Content-Type {media_type!r} is not supported: send application/json")


# "Blank" as the contract's pattern means it. JSON Schema patterns are ECMAScript regexes, whose
# \s differs from Python's (str.strip() and re): U+FEFF is whitespace only in ECMAScript, U+001C-
# U+001F and U+0085 only in Python. The contract's pattern excludes both, so that every layer
# (API Gateway's validator, this handler, the model's input_fn) agrees on what is blank.
BLANK_CHARACTERS = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u001c\u001d\u001e\u001f\u0085")


def _check_headline(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"'{where}' must be a string")
    if not value.strip(BLANK_CHARACTERS):
        raise bad_request(f"'{where}' must not be empty or whitespace")
    if len(value) > MAX_HEADLINE_CHARS:
        raise bad_request(f"'{where}' is longer than {MAX_HEADLINE_CHARS} characters ({len(value)})")
    return value


def parse_classify_request(body: bytes) -> Tuple[List[str], bool]:
    """The headlines to classify and whether the request was a single one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the request body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request('the body must be a JSON object: {"headline": "..."} or {"headlines": ["...", ...]}')
    unknown = sorted(set(data) - {"headline", "headlines"})
    if unknown:
        raise bad_request("unknown field(s): " + ", ".join(repr(name)[:60] for name in unknown[:5]))
    if "headline" in data and "headlines" in data:
        raise bad_request("send either 'headline' or 'headlines', not both")
    if "headline" in data:
        return [_check_headline(data["headline"], "headline")], True
    if "headlines" not in data:
        raise bad_request("'headline' or 'headlines' is required")
    items = data["headlines"]
    if not isinstance(items, list):
        raise bad_request("'headlines' must be an array of strings")
    if not items:
        raise bad_request("'headlines' must not be empty")
    if len(items) > MAX_BATCH_SIZE:
        raise bad_request(f"'headlines' holds {len(items)} items; at most {MAX_BATCH_SIZE} are allowed")
    return [_check_headline(item, f"headlines[{i}]") for i, item in enumerate(items)], False


# --- the model endpoint --------------------------------------------------------------------
MODEL_MESSAGE_CHARS = 300
_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "', "\n  File ")


def model_message(original: Any) -> str:
    """What a caller may see of the container's error body: its first line only.

    The SageMaker serving toolkit answers a failed request with the exception's message
    followed by the Python traceback (``Transformer.handle_error``), and Multi Model Server
    with ``{"code", "type", "message"}``; neither the traceback nor file paths reach callers.
    """
    text = str(original or "")
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        text = decoded["message"]
    text = text.split("Traceback (most recent call last)", 1)[0]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if not line or any(marker in line for marker in _TRACE_MARKERS):
        return "the model rejected the input"
    return line[:MODEL_MESSAGE_CHARS]


def _client_error(exc: ClientError) -> ApiError:
    """Map a sagemaker-runtime error (its real shapes) to the API's answer."""
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code == "ModelError":
        original = exc.response.get("OriginalStatusCode")
        if original is None:
            original = error.get("OriginalStatusCode")
        logger.warning("the model answered an error", extra={
            "original_status": original, "original_message": exc.response.get("OriginalMessage"),
            "log_stream": exc.response.get("LogStreamArn")})
        metrics.add_metric(name="ModelErrors", unit=MetricUnit.Count, value=1)
        if isinstance(original, int) and 400 <= original < 500:
            # The model judged the input bad (the container's client-error contract): the
            # caller's problem, with the model's own message, never a 5xx.
            return bad_request(model_message(exc.response.get("OriginalMessage")))
        return ApiError(502, "model_error", "the model could not process the request")
    metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
    logger.warning("the endpoint call failed", extra={"error_code": code, "http_status": status,
                                                      "error_message": error.get("Message")})
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException") or status == 429 and code != "ModelNotReadyException":
        return ApiError(429, "throttled", "the model endpoint is throttling requests; retry later",
                        RETRY_AFTER_THROTTLED)
    if code in ("ValidationError", "ValidationException", "AccessDeniedException", "AccessDenied",
                "UnrecognizedClientException", "ResourceNotFound"):
        # Endpoint missing (being created or deleted) or not ours to call: an operator problem.
        return ApiError(503, "unavailable", "the model endpoint is not available", RETRY_AFTER_MISCONFIGURED)
    return ApiError(503, "unavailable", "the model endpoint is unavailable or has no capacity; retry later",
                    RETRY_AFTER_UNAVAILABLE)


@tracer.capture_method(capture_response=False)
def invoke_endpoint(headlines: List[str]) -> Dict[str, Any]:
    payload = json.dumps({"headlines": headlines}, separators=(",", ":"))
    started = time.perf_counter()
    try:
        answer = runtime.invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType="application/json", Accept="application/json", Body=payload,
        )
        raw = answer["Body"].read()
    except ClientError as exc:
        raise _client_error(exc) from None
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        metrics.add_metric(name="EndpointTimeouts", unit=MetricUnit.Count, value=1)
        waited = time.perf_counter() - started
        logger.warning("the endpoint call timed out", extra={"error": type(exc).__name__, "waited_s": round(waited, 1)})
        # Timed-out attempts are retried (standard mode), so say how long the caller waited.
        raise ApiError(504, "timeout", f"the model endpoint did not answer within {waited:.0f} s "
                                       f"({ENDPOINT_TIMEOUT_SECONDS:g} s per attempt)") from None
    except BotoCoreError as exc:  # connection refused or reset, no credentials, ...
        metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
        logger.warning("the endpoint call failed", extra={"error": type(exc).__name__, "detail": str(exc)})
        raise ApiError(503, "unavailable", "the model endpoint is unreachable; retry later", RETRY_AFTER_UNAVAILABLE) from None
    metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds,
                       value=round((time.perf_counter() - started) * 1000, 3))
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        logger.warning("the model answered something other than JSON", extra={"head": raw[:200].decode("utf-8", "replace")})
        raise ApiError(502, "model_error", "the model answered in an unexpected format") from None


def _prediction(item: Any) -> Dict[str, Any]:
    scores = item["scores"]
    return {
        "category": str(item["category"]),
        "label": str(item["label"]),
        "confidence": float(item["confidence"]),
        "scores": {str(name): float(value) for name, value in scores.items()},
    }


def shape_answer(answer: Any, count: int, single: bool) -> Dict[str, Any]:
    """The API's response body from the model's answer (checked, not trusted)."""
    try:
        predictions = [_prediction(item) for item in answer["predictions"]]
        model = dict(answer.get("model") or {})
    except (KeyError, TypeError, ValueError, AttributeError):
        predictions, model = [], {}
    if len(predictions) != count:
        logger.warning("the model's answer does not match the request", extra={"expected": count})
        raise ApiError(502, "model_error", "the model answered in an unexpected format")
    info: Dict[str, Any] = {"version": str(model.get("version") or MODEL_VERSION or "unknown")}
    for key in ("test_accuracy", "test_macro_f1"):
        value = model.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            info[key] = value
    if single:
        return {**predictions[0], "model": info}
    return {"predictions": predictions, "model": info}


# --- routes ----------------------------------------------------------------------------------
@app.post("/v1/classify")
def classify() -> Response:
    body = _read_body()
    _check_media_type()
    headlines, single = parse_classify_request(body)
    answer = shape_answer(invoke_endpoint(headlines), len(headlines), single)
    metrics.add_metric(name="HeadlinesClassified", unit=MetricUnit.Count, value=len(headlines))
    return _json_response(200, answer)


def _control():
    global _control_client
    if _control_client is None:
        _control_client = _session.client(
            "sagemaker", region_name=_CONTROL_REGION, endpoint_url=_CONTROL_ENDPOINT_URL,
            config=Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}),
        )
    return _control_client


@app.get("/v1/health")
def health() -> Response:
    now = time.monotonic()
    cached = _health_cache.get("body")
    if cached is None or now - _health_cache.get("at", 0.0) > HEALTH_CACHE_SECONDS:
        try:
            status = _control().describe_endpoint(EndpointName=ENDPOINT_NAME)["EndpointStatus"]
        except (ClientError, BotoCoreError, KeyError) as exc:
            logger.warning("DescribeEndpoint failed", extra={"error": type(exc).__name__, "detail": str(exc)[:300]})
            status = "unreachable"
        model: Dict[str, Any] = {"status": status, "endpoint": ENDPOINT_NAME}
        if MODEL_VERSION:
            model["version"] = MODEL_VERSION
        cached = {"status": "ok" if status == "InService" else "degraded", "model": model}
        _health_cache.update(body=cached, at=now)
    return _json_response(200, cached)


@app.not_found
def not_found(_: NotFoundError) -> Response:
    event = app.current_event
    allowed = ROUTES.get(event.path) or page.allowed_methods(event.path)
    if allowed:
        return _error_response(ApiError(405, "method_not_allowed",
                                        f"{event.http_method} is not allowed on {event.path}; use {', '.join(allowed)}",
                                        headers={"Allow": ", ".join(allowed + ("OPTIONS",))}))
    return _error_response(ApiError(404, "not_found", f"no such resource: {event.path[:200]}"))


@app.exception_handler(ApiError)
def api_error(error: ApiError) -> Response:
    return _error_response(error)


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error")
    return _error_response(ApiError(500, "internal_error", "internal error; quote the request id when reporting it"))


# --- entry point -----------------------------------------------------------------------------
def _with_request_id(result: Dict[str, Any], request_id: str) -> Dict[str, Any]:
    multi = result.get("multiValueHeaders")
    if isinstance(multi, dict):
        multi["X-Request-Id"] = [request_id]
    else:
        result.setdefault("headers", {})["X-Request-Id"] = request_id
    return result


def _internal_error(request_id: str) -> Dict[str, Any]:
    body = {"error": {"code": "internal_error", "message": "internal error; quote the request id when reporting it",
                      "request_id": request_id}}
    return {"statusCode": 500, "isBase64Encoded": False, "body": json.dumps(body),
            "multiValueHeaders": {"Content-Type": ["application/json"], "X-Request-Id": [request_id]}}


_cold_start = True


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def _resolve(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    global _cold_start
    try:
        return app.resolve(event, context)
    finally:
        if not METRICS_ENABLED:
            metrics.clear_metrics()
        else:
            if _cold_start and context is not None:
                metrics.provider.add_cold_start_metric(context)
            if metrics.provider.metric_set:
                metrics.flush_metrics()
        _cold_start = False


def handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    """The Lambda entry point (API Gateway REST proxy integration, payload format 1.0)."""
    request_id = ""
    try:
        request_id = str((event.get("requestContext") or {}).get("requestId")
                         or getattr(context, "aws_request_id", "") or uuid.uuid4())
        app.append_context(request_id=request_id)
        return _with_request_id(_resolve(event, context), request_id)
    except Exception:  # never a traceback to the caller
        logger.exception("the request could not be handled")
        return _internal_error(request_id or str(uuid.uuid4()))
