"""The SageMaker endpoint behind the API: InvokeEndpoint for ``/v1/classify``, DescribeEndpoint
for ``/v1/health``, and what their failures mean for a caller.

Failures map to 400 (the model's own client error, first line only), 502 (the model failed or
answered something else than its contract), 429 (throttled), 503 (unavailable, no capacity,
misconfigured; with ``Retry-After``) and 504 (timeout); no traceback or AWS detail reaches a
caller, it goes to the log. The model's answer is checked, not trusted.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

import boto3
from api_errors import (
    RETRY_AFTER_MISCONFIGURED,
    RETRY_AFTER_THROTTLED,
    RETRY_AFTER_UNAVAILABLE,
    ApiError,
    bad_request,
)
from api_settings import Settings
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

MODEL_MESSAGE_CHARS = 300
_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "', "\n  File ")
_THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException")
# Endpoint missing (being created or deleted) or not ours to call: an operator problem.
_MISCONFIGURED = ("ValidationError", "ValidationException", "AccessDeniedException", "AccessDenied",
                  "UnrecognizedClientException", "ResourceNotFound")


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


def _prediction(item: Any) -> Dict[str, Any]:
    return {
        "category": str(item["category"]),
        "label": str(item["label"]),
        "confidence": float(item["confidence"]),
        "scores": {str(name): float(value) for name, value in item["scores"].items()},
    }


class ModelEndpoint:
    """The endpoint's clients (made once per execution environment) and the calls the API makes.

    ``metrics`` and ``logger`` are the function's Powertools objects, so that what is recorded
    here is flushed and correlated with the request.
    """

    def __init__(self, settings: Settings, metrics: Any, logger: Any, control_endpoint_url: Optional[str] = None,
                 session: Optional[boto3.session.Session] = None):
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        # The session caches the credentials it resolves; the health check's client (made on
        # first use, to keep cold starts short) gets the region and endpoint captured now (the
        # local front sets AWS_ENDPOINT_URL_SAGEMAKER only while the function is imported).
        self._session = session or boto3.session.Session()
        self.runtime = self._session.client(
            "sagemaker-runtime",
            config=Config(
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.endpoint_timeout_seconds,
                retries={"mode": "standard", "total_max_attempts": settings.endpoint_max_attempts},
                max_pool_connections=32,
                tcp_keepalive=True,
            ),
        )
        self._control_region = self._session.region_name
        self._control_endpoint_url = control_endpoint_url
        self._control_client: Any = None

    def control(self) -> Any:
        """The sagemaker (control plane) client of the health check."""
        if self._control_client is None:
            self._control_client = self._session.client(
                "sagemaker", region_name=self._control_region, endpoint_url=self._control_endpoint_url,
                config=Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}),
            )
        return self._control_client

    def _count(self, name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
        self.metrics.add_metric(name=name, unit=unit, value=value)

    def _client_error(self, exc: ClientError) -> ApiError:
        """Map a sagemaker-runtime error (its real shapes) to the API's answer."""
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code == "ModelError":
            original = exc.response.get("OriginalStatusCode")
            if original is None:
                original = error.get("OriginalStatusCode")
            self.logger.warning("the model answered an error", extra={
                "original_status": original, "original_message": exc.response.get("OriginalMessage"),
                "log_stream": exc.response.get("LogStreamArn")})
            self._count("ModelErrors")
            if isinstance(original, int) and 400 <= original < 500:
                # The model judged the input bad (the container's client-error contract): the
                # caller's problem, with the model's own message, never a 5xx.
                return bad_request(model_message(exc.response.get("OriginalMessage")))
            return ApiError(502, "model_error", "the model could not process the request")
        self._count("EndpointErrors")
        self.logger.warning("the endpoint call failed", extra={"error_code": code, "http_status": status,
                                                               "error_message": error.get("Message")})
        if code in _THROTTLED or (status == 429 and code != "ModelNotReadyException"):
            return ApiError(429, "throttled", "the model endpoint is throttling requests; retry later",
                            RETRY_AFTER_THROTTLED)
        if code in _MISCONFIGURED:
            return ApiError(503, "unavailable", "the model endpoint is not available", RETRY_AFTER_MISCONFIGURED)
        return ApiError(503, "unavailable", "the model endpoint is unavailable or has no capacity; retry later",
                        RETRY_AFTER_UNAVAILABLE)

    def invoke(self, headlines: List[str]) -> Any:
        """The model's decoded answer to ``{"headlines": [...]}``; ApiError when there is none."""
        payload = json.dumps({"headlines": headlines}, separators=(",", ":"))
        started = time.perf_counter()
        try:
            answer = self.runtime.invoke_endpoint(
                EndpointName=self.settings.endpoint_name, ContentType="application/json",
                Accept="application/json", Body=payload,
            )
            raw = answer["Body"].read()
        except ClientError as exc:
            raise self._client_error(exc) from None
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            self._count("EndpointTimeouts")
            waited = time.perf_counter() - started
            self.logger.warning("the endpoint call timed out", extra={"error": type(exc).__name__,
                                                                      "waited_s": round(waited, 1)})
            # Timed-out attempts are retried (standard mode), so say how long the caller waited.
            raise ApiError(504, "timeout", f"the model endpoint did not answer within {waited:.0f} s "
                                           f"({self.settings.endpoint_timeout_seconds:g} s per attempt)") from None
        except BotoCoreError as exc:  # connection refused or reset, no credentials, ...
            self._count("EndpointErrors")
            self.logger.warning("the endpoint call failed", extra={"error": type(exc).__name__, "detail": str(exc)})
            raise ApiError(503, "unavailable", "the model endpoint is unreachable; retry later",
                           RETRY_AFTER_UNAVAILABLE) from None
        self._count("EndpointLatency", round((time.perf_counter() - started) * 1000, 3), MetricUnit.Milliseconds)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.logger.warning("the model answered something other than JSON",
                                extra={"head": raw[:200].decode("utf-8", "replace")})
            raise ApiError(502, "model_error", "the model answered in an unexpected format") from None

    def answer(self, model_answer: Any, count: int, single: bool) -> Dict[str, Any]:
        """The API's response body from the model's answer to ``count`` headlines."""
        try:
            predictions = [_prediction(item) for item in model_answer["predictions"]]
            model = dict(model_answer.get("model") or {})
        except (KeyError, TypeError, ValueError, AttributeError):
            predictions, model = [], {}
        if len(predictions) != count:
            self.logger.warning("the model's answer does not match the request", extra={"expected": count})
            raise ApiError(502, "model_error", "the model answered in an unexpected format")
        # The model reports its own identity (metrics.json's model_version, read by inference.py);
        # the deployed version is the fallback when it does not.
        info: Dict[str, Any] = {"version": str(model.get("version") or self.settings.model_version or "unknown")}
        for key in ("test_accuracy", "test_macro_f1"):
            value = model.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
                info[key] = value
        if single:
            return {**predictions[0], "model": info}
        return {"predictions": predictions, "model": info}

    def status(self) -> str:
        """The endpoint's status (``InService`` when it serves), or ``unreachable``."""
        try:
            return str(self.control().describe_endpoint(EndpointName=self.settings.endpoint_name)["EndpointStatus"])
        except (ClientError, BotoCoreError, KeyError) as exc:
            self.logger.warning("DescribeEndpoint failed", extra={"error": type(exc).__name__, "detail": str(exc)[:300]})
            return "unreachable"
