"""The REST API's Lambda proxy (``functions/api/``): it may invoke and describe one endpoint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.functions import PythonFunction, PythonFunctionProps
from infra.results_recording import RecordingTarget
from infra.retention import Retention

# The handler bounds its own endpoint calls (timeout x attempts + backoff) to finish within
# 28 s, so that the caller gets the handler's 504 rather than API Gateway's (29 s integration
# timeout); the function may run that long, and no longer.
LAMBDA_TIMEOUT_SECONDS = 28


@dataclass(frozen=True)
class ApiFunctionProps:
    resource_prefix: str
    service_name: str  # POWERTOOLS_SERVICE_NAME
    metrics_namespace: str  # POWERTOOLS_METRICS_NAMESPACE
    max_headline_chars: int
    max_batch_size: int
    endpoint_timeout_seconds: float
    cors_allow_origins: Sequence[str] = ("*",)
    retention: Retention = Retention()


class ApiFunction(PythonFunction):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: ApiFunctionProps,
        endpoint_name: str,
        endpoint_arn: str,
        model_version: str,
    ) -> None:
        # What another function calling the same endpoint needs too (the feed reader, infra/feeds.py).
        endpoint_environment = {
            "ENDPOINT_NAME": endpoint_name,
            "MAX_HEADLINE_CHARS": str(props.max_headline_chars),
            "MAX_BATCH_SIZE": str(props.max_batch_size),
            "ENDPOINT_TIMEOUT_SECONDS": str(props.endpoint_timeout_seconds),
            "MODEL_VERSION": model_version,
        }
        super().__init__(
            scope,
            construct_id,
            props=PythonFunctionProps(
                folder="api",
                handler="app.handler",
                description=f"{props.resource_prefix}: REST API in front of the SageMaker endpoint {endpoint_name}",
                environment={
                    **endpoint_environment,
                    "CORS_ALLOW_ORIGINS": ",".join(props.cors_allow_origins),
                    "POWERTOOLS_SERVICE_NAME": props.service_name,
                    "POWERTOOLS_METRICS_NAMESPACE": props.metrics_namespace,
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
                timeout=Duration.seconds(LAMBDA_TIMEOUT_SECONDS),
                memory_mb=512,
                retention=props.retention,
            ),
        )
        self.endpoint_environment = endpoint_environment
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], resources=[endpoint_arn]
            )
        )

    def record_results_to(self, target: RecordingTarget) -> None:
        """Every answer becomes records on the results delivery stream (functions/api/results_recorder.py)."""
        for name, value in target.environment().items():
            self.function.add_environment(name, value)
        target.grant(self.role)
