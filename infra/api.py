"""The public REST API: regional API Gateway + the Lambda proxy from ``functions/api/``.

- ``POST /v1/classify`` validated at the gateway against the contract's ``ClassifyRequest``
  (api/openapi.yaml, inlined to a draft-4 model), ``GET /v1/health``;
- stage throttling (applies to every caller) plus a usage plan with throttling and a daily
  quota (the quota is enforced for API-key callers: set ``api.api_key_required``);
- access logs (JSON) to a log group, execution logging of errors, X-Ray tracing, CORS;
- gateway-generated errors (validation, throttling, unknown route, timeouts) answer with the
  contract's JSON error body;
- the function may invoke only this project's endpoint, and describe it for ``/v1/health``.
- ``GET /`` and ``GET /static/{file}``: the page for people, through the same function,
  without an API key.
"""
from __future__ import annotations

import json
from typing import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from headlines.config import HeadlinesConfig
from infra import nag
from infra.functions import PythonFunction
from headlines.naming import resource_prefix
from infra.openapi_model import classify_request, to_json_schema

# (gateway response type, status, contract error code, message or None for the gateway's own)
_GATEWAY_ERRORS = [
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "bad_request", "invalid request body: $context.error.validationErrorString"),
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


def _error_template(code: str, message: str | None) -> str:
    text = message if message is not None else "$context.error.message"
    return (
        '{"error": {"code": "%s", "message": "%s", "request_id": "$context.requestId"}}' % (code, text)
    )


def _cors_origin_header(origins: Sequence[str]) -> str:
    # A gateway response header is static: "*" when allowed, else the first configured origin.
    return "'*'" if "*" in origins or not origins else f"'{origins[0]}'"


# The handler bounds its own endpoint calls (timeout x attempts + backoff) to finish within
# 28 s, so that the caller gets the handler's 504 rather than API Gateway's (29 s integration
# timeout); the function may run that long, and no longer.
LAMBDA_TIMEOUT_SECONDS = 28


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
        endpoint_name: str,
        endpoint_arn: str,
        model_version: str,
        removal: RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = resource_prefix(cfg)
        api_cfg = cfg.api

        # ---- the Lambda proxy ---------------------------------------------------------------
        self.handler = PythonFunction(
            self,
            "Handler",
            folder="api",
            handler="app.handler",
            description=f"{prefix}: REST API in front of the SageMaker endpoint {endpoint_name}",
            environment={
                "ENDPOINT_NAME": endpoint_name,
                "MAX_HEADLINE_CHARS": str(api_cfg.max_headline_chars),
                "MAX_BATCH_SIZE": str(api_cfg.max_batch_size),
                "ENDPOINT_TIMEOUT_SECONDS": str(api_cfg.endpoint_timeout_seconds),
                "MODEL_VERSION": model_version,
                "CORS_ALLOW_ORIGINS": ",".join(api_cfg.cors_allow_origins),
                "POWERTOOLS_SERVICE_NAME": f"{cfg.project_name}-api",
                "POWERTOOLS_METRICS_NAMESPACE": cfg.project_name,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            timeout=Duration.seconds(LAMBDA_TIMEOUT_SECONDS),
            memory_mb=512,
            log_retention=log_retention,
            removal=removal,
        )
        self.handler.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], resources=[endpoint_arn]
            )
        )

        # ---- the REST API ---------------------------------------------------------------------
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal)
        throttle_rate = float(api_cfg.throttle_rate_limit)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{prefix}-api",
            description=f"{prefix}: classify news headlines (contract: api/openapi.yaml)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway writes access and execution logs through the account-level role; it
            # is an account-wide setting, so CDK retains it on destroy.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=cfg.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=api_cfg.throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(
                        {
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
                    )
                ),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(api_cfg.cors_allow_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", "X-Api-Key", "X-Request-Id", "X-Amz-Date", "Authorization"],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=Duration.hours(1),
            ),
        )
        integration = apigw.LambdaIntegration(self.handler.function, proxy=True)

        self.request_model = self.api.add_model(
            "ClassifyRequestModel",
            model_name="ClassifyRequest",
            content_type="application/json",
            description="ClassifyRequest of api/openapi.yaml: one headline or a bounded batch",
            schema=to_json_schema(classify_request(api_cfg.max_headline_chars, api_cfg.max_batch_size)),
        )
        self.validator = self.api.add_request_validator(
            "BodyValidator", request_validator_name=f"{prefix}-body", validate_request_body=True, validate_request_parameters=True
        )

        v1 = self.api.root.add_resource("v1")
        v1.add_resource("classify").add_method(
            "POST",
            integration,
            operation_name="classify",
            api_key_required=api_cfg.api_key_required,
            request_models={"application/json": self.request_model},
            request_validator=self.validator,
        )
        v1.add_resource("health").add_method(
            "GET",
            integration,
            operation_name="health",
            api_key_required=api_cfg.api_key_required,
            request_validator=self.validator,
        )

        # The page for people (functions/api/page.py): the same function, no API key for the page
        # itself (its try-it box sends the caller's key where classify needs one); text only,
        # so no binary media types and the JSON API's request handling stays as it is.
        self.api.root.add_method("GET", integration, operation_name="page", api_key_required=False)
        self.api.root.add_resource("static").add_resource("{file}").add_method(
            "GET",
            integration,
            operation_name="pageFile",
            api_key_required=False,
            request_parameters={"method.request.path.file": True},
            request_validator=self.validator,
        )

        origin = _cors_origin_header(api_cfg.cors_allow_origins)
        for response_type, status, code, message in _GATEWAY_ERRORS:
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                # The contract's X-Request-Id on every answer, the gateway's own included.
                response_headers={"Access-Control-Allow-Origin": origin, "X-Request-Id": "context.requestId"},
                templates={"application/json": _error_template(code, message)},
            )

        # ---- usage plan (throttling + quota) and optional API key ----------------------------
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name=f"{prefix}-default",
            description="Default plan: throttling and a daily quota",
            throttle=apigw.ThrottleSettings(rate_limit=throttle_rate, burst_limit=api_cfg.throttle_burst_limit),
            quota=apigw.QuotaSettings(limit=api_cfg.quota_per_day, period=apigw.Period.DAY),
        )
        self.usage_plan.add_api_stage(stage=self.api.deployment_stage)
        self.api_key = None
        if api_cfg.api_key_required:
            self.api_key = self.api.add_api_key("ApiKey", api_key_name=f"{prefix}-default")
            self.usage_plan.add_api_key(self.api_key)

        # ---- cdk-nag ----------------------------------------------------------------------------
        nag.suppress(
            self.api,
            (
                "AwsSolutions-APIG3",
                "No WAF web ACL by default (about $6/month plus per-request fees); the stage and the usage plan "
                "throttle, the gateway validates bodies. Attach a web ACL to the stage where required.",
            ),
            (
                "AwsSolutions-APIG4",
                "A public, anonymous classification API by design (see the OpenAPI contract); set "
                "api.api_key_required=true to require API keys.",
            ),
            (
                "AwsSolutions-COG4",
                "No Cognito user pool: the API is public by design, optionally behind API keys.",
            ),
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-level CloudWatch role uses the AWS managed policy "
                "AmazonAPIGatewayPushToCloudWatchLogs, the documented way to let API Gateway write logs.",
            ),
            (
                "AwsSolutions-IAM4[Policy::arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-level CloudWatch role uses the AWS managed policy "
                "AmazonAPIGatewayPushToCloudWatchLogs, the documented way to let API Gateway write logs.",
            ),
        )
