"""The endpoint: its config (instance or serverless variant, data capture), its alarms, the
endpoint itself with deployment guardrails (blue/green), and autoscaling.

A new Model replaces the EndpointConfig (no explicit names), and CloudFormation updates the
Endpoint (fixed name) to it. SageMaker does that blue/green; in instance mode with deployment
guardrails (``DeploymentConfig``): all traffic moves to the new fleet, the old fleet stays for
a baking period while the endpoint's 5XX and latency alarms are watched, and SageMaker rolls
back on its own when one fires. Serverless endpoints support neither guardrails, a KMS volume
key nor data capture.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Optional, Sequence

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from headlines.instance_types import accepts_volume_kms_key
from infra import nag
from infra.storage import DATA_CAPTURE_PREFIX

VARIANT = "AllTraffic"
#: Deployment guardrails: how long the old fleet stays while the alarms are watched.
BAKE_SECONDS = 600


@dataclass(frozen=True)
class CapacityProps:
    """``instance``: ``initial_instance_count`` x ``instance_type``; ``serverless``: memory and concurrency."""

    mode: Literal["instance", "serverless"] = "instance"
    instance_type: str = "ml.c5.large"
    initial_instance_count: int = 1
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    serverless_provisioned_concurrency: Optional[int] = None

    @property
    def instance_mode(self) -> bool:
        return self.mode == "instance"

    @property
    def volume_key(self) -> bool:
        """Whether the ML storage volume takes the project key: instance mode on a type without
        local storage (CreateEndpointConfig fails on a KmsKeyId with instance store; serverless
        endpoints take none)."""
        return self.instance_mode and accepts_volume_kms_key(self.instance_type)


@dataclass(frozen=True)
class DataCaptureProps:
    sampling_percent: int  # of the requests, inputs and outputs both


@dataclass(frozen=True)
class AutoscalingProps:
    min_capacity: int
    max_capacity: int  # raised to min_capacity when below it
    target_invocations_per_instance: int


def production_variant(capacity: CapacityProps, model_name: str) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    if capacity.instance_mode:
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT,
            model_name=model_name,
            initial_instance_count=capacity.initial_instance_count,
            instance_type=capacity.instance_type,
            initial_variant_weight=1.0,
        )
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=VARIANT,
        model_name=model_name,
        serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
            memory_size_in_mb=capacity.serverless_memory_mb,
            max_concurrency=capacity.serverless_max_concurrency,
            provisioned_concurrency=capacity.serverless_provisioned_concurrency,
        ),
    )


def data_capture_config(
    capture: DataCaptureProps, destination_s3_uri: str, key_arn: str
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=True,
        initial_sampling_percentage=capture.sampling_percent,
        destination_s3_uri=destination_s3_uri,
        kms_key_id=key_arn,
        capture_options=[
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
        ],
        capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
            json_content_types=["application/json"]
        ),
    )


class EndpointConfiguration(sagemaker.CfnEndpointConfig):
    """One variant of ``model``; the ML storage volume (instance mode) and captured data use ``key_arn``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capacity: CapacityProps,
        model: sagemaker.CfnModel,
        key_arn: str,
        endpoint_name: str,
        artifacts_bucket: str,
        data_capture: Optional[DataCaptureProps] = None,
    ) -> None:
        if data_capture and not capacity.instance_mode:
            raise ValueError("serving.data_capture needs serving.mode=instance: SageMaker serverless endpoints do not capture data")
        destination = f"s3://{artifacts_bucket}/{DATA_CAPTURE_PREFIX}{endpoint_name}"
        super().__init__(
            scope,
            construct_id,
            production_variants=[production_variant(capacity, model.attr_model_name)],
            kms_key_id=key_arn if capacity.volume_key else None,
            data_capture_config=data_capture_config(data_capture, destination, key_arn) if data_capture else None,
        )
        self.node.add_dependency(model)
        if not capacity.instance_mode:
            nag.suppress(
                self,
                ("AwsSolutions-SM2", "Serverless endpoints do not accept a KMS key for an ML storage volume (they have none to encrypt)."),
            )


def endpoint_alarms(scope: Construct, endpoint_name: str, topic: Optional[sns.ITopic]) -> List[cloudwatch.Alarm]:
    """5XX errors and p90 model latency of the variant, announced on ``topic``.

    The dimensions name the endpoint literally: a GetAtt would make a cycle with the
    endpoint's rollback alarms."""
    dims = {"EndpointName": endpoint_name, "VariantName": VARIANT}

    def metric(name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker", metric_name=name, dimensions_map=dims, statistic=statistic, period=Duration.minutes(1)
        )

    alarms = [
        cloudwatch.Alarm(
            scope,
            "Errors5xx",
            alarm_description=f"{endpoint_name}: the model endpoint answers 5XX errors",
            metric=metric("Invocation5XXErrors", "Sum"),
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ),
        cloudwatch.Alarm(
            scope,
            "Latency",
            alarm_description=f"{endpoint_name}: p90 model latency above 1 s for 3 minutes",
            metric=metric("ModelLatency", "p90"),  # microseconds
            threshold=1_000_000,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ),
    ]
    if topic is not None:
        for alarm in alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarms


def guardrails(alarms: Sequence[cloudwatch.IAlarm]) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """Shift all traffic, bake while watching the alarms, roll back on alarm.
    (Canary shifting needs a canary of at most half the new fleet: not with 1 instance.)"""
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="ALL_AT_ONCE", wait_interval_in_seconds=BAKE_SECONDS
            ),
            termination_wait_in_seconds=0,
            maximum_execution_timeout_in_seconds=3600,
        ),
        auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
            alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in alarms]
        ),
    )


class BlueGreenEndpoint(sagemaker.CfnEndpoint):
    """The endpoint (fixed name); with ``rollback_alarms``, updates run under deployment guardrails."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        config: sagemaker.CfnEndpointConfig,
        rollback_alarms: Optional[Sequence[cloudwatch.IAlarm]] = None,
        autoscaled: bool = False,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            endpoint_name=endpoint_name,
            endpoint_config_name=config.attr_endpoint_config_name,
            # Keep the instance count that autoscaling chose across blue/green updates.
            retain_all_variant_properties=True if autoscaled else None,
            deployment_config=guardrails(rollback_alarms) if rollback_alarms else None,
        )
        self.endpoint_arn = self.ref  # Ref of AWS::SageMaker::Endpoint is its ARN


class EndpointAutoscaling(appscaling.ScalableTarget):
    """Target tracking on ``SageMakerVariantInvocationsPerInstance`` of the endpoint's variant."""

    def __init__(self, scope: Construct, construct_id: str, *, props: AutoscalingProps, endpoint: sagemaker.CfnEndpoint) -> None:
        super().__init__(
            scope,
            construct_id,
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint.attr_endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=props.min_capacity,
            max_capacity=max(props.max_capacity, props.min_capacity),
        )
        self.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=props.target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
