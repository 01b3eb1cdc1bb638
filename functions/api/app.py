"""The public REST API (API Gateway REST proxy -> this Lambda -> the SageMaker endpoint).

Routes (the contract is ``api/openapi.yaml``):

- ``POST /v1/classify`` ``{"headline": "..."}`` or ``{"headlines": ["...", ...]}``
- ``GET /v1/health``
- ``GET /`` and ``GET /static/{file}``: the page for people (``page.py``)

Every response carries ``X-Request-Id`` (API Gateway's request id, else the Lambda's);
errors are ``{"error": {"code", "message", "request_id"}}``. Bad input is a 4xx, decided here
before the endpoint is called: the body's bytes by ``request_body.py``, its JSON by Powertools'
request validation (``enable_validation``) against ``classify_request.py``'s pydantic models.
Endpoint failures are mapped in ``model_endpoint.py``. No stack trace ever reaches a caller.

Configuration: the environment (``api_settings.py``). In local mode the boto3 clients are
pointed at the local SageMaker runtime API with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``
(invocations) and ``AWS_ENDPOINT_URL_SAGEMAKER`` (the health check), so this file runs
unchanged in both places. The modules next to this file are imported by name: the Lambda
runtime has this folder on sys.path, and so does the local front that loads this file.

Dependencies: boto3 (in the Lambda runtime), AWS Lambda Powertools and pydantic (both in the
public Powertools v3 layer, built with ``aws-lambda-powertools[all]``).
"""
from __future__ import annotations

import functools
import json
import os
import time
import uuid
import warnings
from collections import defaultdict
from typing import Annotated, Any, Callable, Dict, List, Optional

import api_settings
import classify_request
import page
import request_body
import results_recorder
from api_errors import ApiError, internal_error
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from model_endpoint import ModelEndpoint, model_message

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "headlines-api")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Headlines")
CLASSIFY_PATH = "/v1/classify"
ROUTES = {CLASSIFY_PATH: ("POST",), "/v1/health": ("GET",)}
HEALTH_CACHE_SECONDS = 5.0

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
# An own provider: Metrics() instances otherwise share one class-level metric set.
metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE))
# Per-category metrics: one EMF line per category answered (dimensions service and category).
category_metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE))
# Decided once, at the cold start (local mode turns metrics off while importing this file):
# Powertools reads its switch again at each flush, and while off never clears the metric set.
METRICS_ENABLED = not is_metrics_disabled()
# /v1/health and the page record no metric; each such flush would warn.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SETTINGS = api_settings.from_environ(os.environ, logger.warning)
ENDPOINT_NAME = SETTINGS.endpoint_name
MODEL_VERSION = SETTINGS.model_version
endpoint = ModelEndpoint(SETTINGS, metrics, logger,
                         control_endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER")
                         or os.environ.get("AWS_ENDPOINT_URL") or None)
runtime = endpoint.runtime


def _results_dropped(count: int, reason: str) -> None:
    metrics.add_metric(name="ResultsDropped", unit=MetricUnit.Count, value=count)


# Where each answer's records go (results_sink.py: RESULTS_STREAM in AWS, RESULTS_DIR locally).
recorder = results_recorder.from_environ(os.environ, _results_dropped)
__all__ = ["handler", "model_message"]


class ClassifyRequest(classify_request.ClassifyRequest):
    """The contract's request body with this deployment's limits."""

    limits = SETTINGS.limits


CORS = CORSConfig(
    allow_origin=SETTINGS.cors_allow_origins[0],
    extra_origins=list(SETTINGS.cors_allow_origins[1:]) or None,
    expose_headers=["X-Request-Id", "Retry-After"],
    max_age=600,
)
app = APIGatewayRestResolver(cors=CORS, enable_validation=True, json_body_deserializer=classify_request.json_object)
page.add_routes(app, SETTINGS.limits)
_health_cache: Dict[str, Any] = {}


def _request_id() -> str:
    return str(app.context.get("request_id", ""))


def _json(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


def _json_response(status: int, body: str, headers: Optional[Dict[str, str]] = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def _error_response(error: ApiError) -> Response:
    return _json_response(error.status, error.body(_request_id()), error.response_headers())


# --- routes ----------------------------------------------------------------------------------
@tracer.capture_method(capture_response=False)
def invoke_endpoint(request: classify_request.ClassifyRequest) -> Dict[str, Any]:
    texts = request.texts()
    return endpoint.answer(endpoint.invoke(texts), len(texts), request.single)


def _publish_categories(predictions: List[Dict[str, Any]]) -> None:
    if not METRICS_ENABLED:
        return
    confidences: Dict[str, List[float]] = defaultdict(list)
    for prediction in predictions:
        confidences[prediction["category"]].append(prediction["confidence"])
    for category, values in confidences.items():
        category_metrics.add_dimension(name="category", value=category)
        category_metrics.add_metric(name="CategoryHeadlines", unit=MetricUnit.Count, value=len(values))
        for value in values:
            category_metrics.add_metric(name="CategoryConfidence", unit=MetricUnit.NoUnit, value=value)
        category_metrics.flush_metrics()


@app.post(CLASSIFY_PATH)
def classify(request: Annotated[ClassifyRequest, Body()]) -> Response[str]:
    started = time.perf_counter()
    answer = invoke_endpoint(request)
    latency_ms = (time.perf_counter() - started) * 1000
    texts = request.texts()
    metrics.add_metric(name="HeadlinesClassified", unit=MetricUnit.Count, value=len(texts))
    predictions = [answer] if request.single else answer["predictions"]
    body = _json(answer)
    # After the answer is made, before it returns (Lambda freezes the environment after that).
    recorder.record(texts, predictions, request_id=_request_id(), model_version=answer["model"]["version"],
                    latency_ms=latency_ms)
    _publish_categories(predictions)
    return _json_response(200, body)


@app.get("/v1/health")
def health() -> Response[str]:
    now = time.monotonic()
    cached = _health_cache.get("body")
    if cached is None or now - _health_cache.get("at", 0.0) > HEALTH_CACHE_SECONDS:
        status = endpoint.status()
        model: Dict[str, Any] = {"status": status, "endpoint": ENDPOINT_NAME}
        if MODEL_VERSION:
            model["version"] = MODEL_VERSION
        cached = {"status": "ok" if status == "InService" else "degraded", "model": model}
        _health_cache.update(body=cached, at=now)
    return _json_response(200, _json(cached))


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


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    return _error_response(ApiError(400, "bad_request", classify_request.validation_message(error.errors())))


@app.exception_handler(Exception)
def unexpected_error(_: Exception) -> Response:
    logger.exception("unexpected error")
    return _error_response(internal_error())


# --- entry point -----------------------------------------------------------------------------
def _before_routing(event: Dict[str, Any], error: ApiError) -> Dict[str, Any]:
    """The answer to a classify request whose body ``request_body`` refused, with the CORS
    headers the resolver would add (it never saw the request)."""
    headers = {"Content-Type": "application/json", **error.response_headers()}
    origin = CORS.allowed_origin(request_body.header(event, "origin") or "")
    if origin:
        headers.update(CORS.to_dict(origin))
    return {"statusCode": error.status, "isBase64Encoded": False, "body": error.body(_request_id()),
            "multiValueHeaders": {name: [value] for name, value in headers.items()}}


def _publishing_metrics(function: Callable[[Dict[str, Any], Any], Dict[str, Any]]) -> Callable[..., Dict[str, Any]]:
    """``@metrics.log_metrics`` (EMF, with the cold-start metric) where metrics are on; where they
    were off at the cold start, each invocation's metrics are dropped instead (Powertools would
    keep them, then print them every hundred)."""
    if METRICS_ENABLED:
        return metrics.log_metrics(function, capture_cold_start_metric=True)

    @functools.wraps(function)
    def dropping_metrics(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
        try:
            return function(event, context)
        finally:
            metrics.clear_metrics()

    return dropping_metrics


@_publishing_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def _resolve(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    if event.get("httpMethod") == "POST" and event.get("path") == CLASSIFY_PATH:
        try:
            event = request_body.canonical_event(event)
        except ApiError as error:
            return _before_routing(event, error)
    return app.resolve(event, context)


def _with_request_id(result: Dict[str, Any], request_id: str) -> Dict[str, Any]:
    multi = result.get("multiValueHeaders")
    if isinstance(multi, dict):
        multi["X-Request-Id"] = [request_id]
    else:
        result.setdefault("headers", {})["X-Request-Id"] = request_id
    return result


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
        request_id = request_id or str(uuid.uuid4())
        return {"statusCode": 500, "isBase64Encoded": False, "body": internal_error().body(request_id),
                "multiValueHeaders": {"Content-Type": ["application/json"], "X-Request-Id": [request_id]}}
    finally:
        app.clear_context()

