"""The regional REST API: stage (throttling, logs, tracing), CORS, routes, gateway errors,
usage plan and optional API key.

- ``POST /v1/classify`` validated at the gateway against the contract's ``ClassifyRequest``
  (api/openapi.yaml, inlined to a draft-4 model), ``GET /v1/health``;
- ``GET /`` and ``GET /static/{file}``: the page for people, without an API key;
- gateway-generated errors (validation, throttling, unknown route, timeouts) answer with the
  contract's JSON error body.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.openapi_model import classify_request, to_json_schema

# (gateway response type, status, contract error code, message or None for the gateway's own)
GATEWAY_ERRORS = [
    # Not the validator's $context.error.validationErrorString: a gateway response template is
    # no VTL (no $util.escapeJavaScript) and that string holds quotes (["headline"]).
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "bad_request",
     'invalid request body: send {"headline": "..."} or {"headlines": ["...", ...]} (ClassifyRequest in the API contract)'),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "bad_request", None),
    (apigw.ResponseType.INVALID_API_KEY, "403", "forbidden", "missing or invalid API key: send it in the x-api-key header"),
    (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", None),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "payload_too_large", None),
    (apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "415", "unsupported_media_type", None),
    (apigw.ResponseType.THROTTLED, "429", "throttled", "too many requests: retry later"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "throttled", "daily quota exceeded"),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", "no such route: see /v1/classify and /v1/health"),
    (apigw.ResponseType.INTEGRATION_TIMEOUT, "504", "timeout", "the service did not answer in time"),
    (apigw.ResponseType.INTEGRATION_FAILURE, "502", "internal_error", "the service failed to answer"),
    (apigw.ResponseType.DEFAULT_4_XX, None, "bad_request", None),
    (apigw.ResponseType.DEFAULT_5_XX, None, "internal_error", None),
]

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency",
    "apiKeyId": "$context.identity.apiKeyId",
    "userAgent": "$context.identity.userAgent",
    "error": "$context.error.messageString",
    "xrayTraceId": "$context.xrayTraceId",
}


@dataclass(frozen=True)
class RestApiProps:
    resource_prefix: str
    stage_name: str
    throttle_rate_limit: float  # requests per second, stage and usage plan
    throttle_burst_limit: int
    quota_per_day: int  # usage plan (enforced for API-key callers)
    max_headline_chars: int  # the request model's limits
    max_batch_size: int
    api_key_required: bool = False
    cors_allow_origins: Sequence[str] = ("*",)
    # API Gateway logs through one CloudWatch role per account and region. False: the account's
    # own (headlines preflight checks it is set); True: create one and set it, which replaces
    # whatever the account had (cdk.json headlines.api.logging_role).
    create_logging_role: bool = False


def error_template(code: str, message: Optional[str]) -> str:
    """The contract's error body. Gateway response templates only substitute variables (no VTL):
    a fixed message is a JSON literal here, the gateway's own is ``$context.error.messageString``,
    which API Gateway documents as already quoted and escaped; ``$context.requestId`` is an id."""
    text = json.dumps(message) if message is not None else "$context.error.messageString"
    return '{"error": {"code": %s, "message": %s, "request_id": "$context.requestId"}}' % (json.dumps(code), text)


def cors_origin_header(origins: Sequence[str]) -> str:
    # A gateway response header is static: "*" when allowed, else the first configured origin.
    return "'*'" if "*" in origins or not origins else f"'{origins[0]}'"


def stage_options(props: RestApiProps, access_logs: logs.ILogGroup) -> apigw.StageOptions:
    """Throttling for every caller, JSON access logs, execution logs of errors, X-Ray."""
    return apigw.StageOptions(
        stage_name=props.stage_name,
        tracing_enabled=True,
        metrics_enabled=True,
        logging_level=apigw.MethodLoggingLevel.ERROR,
        data_trace_enabled=False,
        throttling_rate_limit=float(props.throttle_rate_limit),
        throttling_burst_limit=props.throttle_burst_limit,
        access_log_destination=apigw.LogGroupLogDestination(access_logs),
        access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
    )


class HeadlinesRestApi(apigw.RestApi):
    def __init__(
        self, scope: Construct, construct_id: str, *, props: RestApiProps, handler: lambda_.IFunction, access_logs: logs.ILogGroup
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            rest_api_name=f"{props.resource_prefix}-api",
            description=f"{props.resource_prefix}: classify news headlines (contract: api/openapi.yaml)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes access and execution logs through the account-level role, an
            # account-wide setting: created only when asked; CDK then retains it on destroy, as
            # the account keeps pointing at it.
            cloud_watch_role=props.create_logging_role,
            deploy_options=stage_options(props, access_logs),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(props.cors_allow_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", "X-Api-Key", "X-Request-Id", "X-Amz-Date", "Authorization"],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=Duration.hours(1),
            ),
        )
        self.props_create_logging_role = props.create_logging_role
        self._add_routes(props, apigw.LambdaIntegration(handler, proxy=True))
        self._add_error_responses(cors_origin_header(props.cors_allow_origins))
        self.usage_plan = self.add_usage_plan(
            "UsagePlan",
            name=f"{props.resource_prefix}-default",
            description="Default plan: throttling and a daily quota",
            throttle=apigw.ThrottleSettings(rate_limit=float(props.throttle_rate_limit), burst_limit=props.throttle_burst_limit),
            quota=apigw.QuotaSettings(limit=props.quota_per_day, period=apigw.Period.DAY),
        )
        self.usage_plan.add_api_stage(stage=self.deployment_stage)
        self.api_key: Optional[apigw.IApiKey] = None
        if props.api_key_required:
            self.api_key = self.add_api_key("ApiKey", api_key_name=f"{props.resource_prefix}-default")
            self.usage_plan.add_api_key(self.api_key)

    def _add_routes(self, props: RestApiProps, integration: apigw.Integration) -> None:
        """The JSON API under /v1 (body-validated classify) and the page at / and /static/{file}."""
        self.request_model = self.add_model(
            "ClassifyRequestModel",
            model_name="ClassifyRequest",
            content_type="application/json",
            description="ClassifyRequest of api/openapi.yaml: one headline or a bounded batch",
            schema=to_json_schema(classify_request(props.max_headline_chars, props.max_batch_size)),
        )
        self.validator = self.add_request_validator(
            "BodyValidator", request_validator_name=f"{props.resource_prefix}-body", validate_request_body=True,
            validate_request_parameters=True,
        )
        v1 = self.root.add_resource("v1")
        v1.add_resource("classify").add_method(
            "POST",
            integration,
            operation_name="classify",
            api_key_required=props.api_key_required,
            request_models={"application/json": self.request_model},
            request_validator=self.validator,
        )
        v1.add_resource("health").add_method(
            "GET", integration, operation_name="health", api_key_required=props.api_key_required, request_validator=self.validator
        )
        # The page for people (functions/api/page.py): the same function, no API key for the page
        # itself (its try-it box sends the caller's key where classify needs one); text only,
        # so no binary media types and the JSON API's request handling stays as it is.
        self.root.add_method("GET", integration, operation_name="page", api_key_required=False)
        self.root.add_resource("static").add_resource("{file}").add_method(
            "GET",
            integration,
            operation_name="pageFile",
            api_key_required=False,
            request_parameters={"method.request.path.file": True},
            request_validator=self.validator,
        )

    def _add_error_responses(self, origin: str) -> None:
        """The gateway's own errors in the contract's JSON error body."""
        for response_type, status, code, message in GATEWAY_ERRORS:
            self.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                # The contract's X-Request-Id on every answer, the gateway's own included.
                response_headers={"Access-Control-Allow-Origin": origin, "X-Request-Id": "context.requestId"},
                templates={"application/json": error_template(code, message)},
            )
