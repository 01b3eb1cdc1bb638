"""The public REST API: regional API Gateway (infra/rest_api.py) + the Lambda proxy from
``functions/api/`` (infra/api_function.py).

- stage throttling (applies to every caller) plus a usage plan with throttling and a daily
  quota (the quota is enforced for API-key callers: set ``api.api_key_required``);
- access logs (JSON) to a log group, execution logging of errors, X-Ray tracing, CORS;
- the function may invoke only this project's endpoint, and describe it for ``/v1/health``.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.api_function import ApiFunction, ApiFunctionProps
from infra.rest_api import HeadlinesRestApi, RestApiProps
from infra.retention import Retention
from infra.service_logs import api_execution_log_group


@dataclass(frozen=True)
class ApiProps:
    rest_api: RestApiProps
    function: ApiFunctionProps
    retention: Retention = Retention()  # the access logs


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: ApiProps,
        endpoint_name: str,
        endpoint_arn: str,
        model_version: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = ApiFunction(
            self,
            "Handler",
            props=props.function,
            endpoint_name=endpoint_name,
            endpoint_arn=endpoint_arn,
            model_version=model_version,
        )
        retention = props.retention
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention.log_retention, removal_policy=retention.removal
        )
        self.api = HeadlinesRestApi(
            self, "Api", props=props.rest_api, handler=self.handler.function, access_logs=self.access_logs
        )
        # The group API Gateway's execution logging writes to (it would create it, forever, and
        # outside the stack): the stack's, before the stage exists (infra/service_logs.py).
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=api_execution_log_group(self.api.rest_api_id, props.rest_api.stage_name),
            retention=retention.log_retention,
            removal_policy=retention.removal,
        )
        self.api.deployment_stage.node.add_dependency(self.execution_logs)
        self.api_key = self.api.api_key
        self.usage_plan = self.api.usage_plan
        acknowledge_public_api(self.api)


def acknowledge_public_api(api: HeadlinesRestApi) -> None:
    """cdk-nag: a public API by design, without WAF or Cognito; API Gateway's logging role."""
    push_logs = (
        "API Gateway's account-level CloudWatch role uses the AWS managed policy "
        "AmazonAPIGatewayPushToCloudWatchLogs, the documented way to let API Gateway write logs."
    )
    nag.suppress(
        api,
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
        ("AwsSolutions-COG4", "No Cognito user pool: the API is public by design, optionally behind API keys."),
    )
    if api.props_create_logging_role:
        nag.suppress(
            api,
            ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]", push_logs),
            ("AwsSolutions-IAM4[Policy::arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]", push_logs),
        )
