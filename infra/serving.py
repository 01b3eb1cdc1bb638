"""Serving: the SageMaker Model, EndpointConfig and Endpoint, owned by CloudFormation.

The approved ``model.tar.gz`` carries its serving code under ``code/``; the MXNet inference
container is pointed at it with ``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY``.

Model and EndpointConfig names end with a hash of what they contain, so a new model URL (or
a new variant setting) creates a new Model and EndpointConfig, and CloudFormation updates the
Endpoint (fixed name) to the new config: SageMaker does that as a blue/green deployment, and
CloudFormation then deletes the old config and model. The pipeline never touches the endpoint.

Modes (``serving.mode``):
- ``instance``: ``initial_instance_count`` x ``instance_type``, target-tracking autoscaling on
  ``SageMakerVariantInvocationsPerInstance``, KMS-encrypted ML storage volume, network isolation,
  optional data capture to ``s3://<artifacts>/datacapture/``;
- ``serverless``: ``ServerlessConfig`` (memory, max concurrency), near-zero idle cost. SageMaker
  does not support network isolation, a KMS volume key or data capture there.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, Optional

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from headlines.config import HeadlinesConfig
from infra import nag
from infra.images import Images
from infra.naming import endpoint_name, resource_prefix
from infra.sagemaker_role import ecr_pull_statements, log_group_statement, metrics_statement
from infra.storage import DATA_CAPTURE_PREFIX

VARIANT = "AllTraffic"
_MODEL_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+\.tar\.gz)$")


def parse_model_data_url(url: str) -> Dict[str, str]:
    """Bucket and key of an ``s3://bucket/.../model.tar.gz`` URL (ValueError otherwise)."""
    match = _MODEL_URL.match(url or "")
    if not match:
        raise ValueError(f"model data URL must look like s3://bucket/path/model.tar.gz, got {url!r}")
    return match.groupdict()


def model_version(url: str) -> str:
    """The training job name of ``s3://b/models/<job>/output/model.tar.gz``, else a short hash."""
    parts = parse_model_data_url(url)["key"].split("/")
    if len(parts) >= 3 and parts[-2] == "output":
        return parts[-3]
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:10]


class Serving(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
        model_data_url: str,
        images: Images,
        key: kms.IKey,
        artifacts: s3.IBucket,
        alarm_topic: Optional[sns.ITopic] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        serving = cfg.serving
        instance_mode = serving.mode == "instance"
        if serving.data_capture and not instance_mode:
            raise ValueError("serving.data_capture needs serving.mode=instance: SageMaker serverless endpoints do not capture data")
        location = parse_model_data_url(model_data_url)
        prefix = resource_prefix(cfg)
        self.endpoint_name = endpoint_name(cfg)
        self.model_version = model_version(model_data_url)

        # ---- execution role of the model ----------------------------------------------------
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{prefix} endpoint: read the approved model artifact, pull the MXNet inference image",
        )
        statements = [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{location['bucket']}/{location['key']}"],
            ),
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:DescribeKey"], resources=[key.key_arn]),
            log_group_statement(stack, "/aws/sagemaker/Endpoints/" + self.endpoint_name),
            metrics_statement("/aws/sagemaker/*"),
            *ecr_pull_statements([images.mxnet_inference], stack.partition),
        ]
        if serving.data_capture:
            statements += [
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects(DATA_CAPTURE_PREFIX + "*")]),
                iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[key.key_arn]),
            ]
        if instance_mode:  # ML storage volume encrypted with the project key
            statements.append(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant"],
                    resources=[key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                )
            )
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        nag.allow_wildcards(
            self,
            (nag.log_streams_of("/aws/sagemaker/Endpoints/" + self.endpoint_name), "The model container writes log streams of its own endpoint's log group only."),
            (r"Resource::arn:<AWS::Partition>:s3:::[^/]+/" + DATA_CAPTURE_PREFIX + r"\*", "Data capture writes objects under datacapture/ of the artifacts bucket only."),
            (r"Resource::\*", "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; PutMetricData is limited by a namespace condition."),
        )

        # ---- model ------------------------------------------------------------------------
        environment = {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_REGION": stack.region,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        }
        container = {"image": images.mxnet_inference, "model_data_url": model_data_url, "environment": environment}
        self.model_name = f"{prefix}-{_digest([container, instance_mode])}"
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            model_name=self.model_name,
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=images.mxnet_inference, model_data_url=model_data_url, environment=environment
            ),
            # Serverless endpoints do not support network isolation.
            enable_network_isolation=True if instance_mode else None,
        )
        # The role's policy must exist before SageMaker reads the model (the role itself is a GetAtt).
        self.model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))

        # ---- endpoint config ----------------------------------------------------------------
        if instance_mode:
            variant: Dict[str, Any] = dict(
                variant_name=VARIANT,
                model_name=self.model_name,
                initial_instance_count=serving.initial_instance_count,
                instance_type=serving.instance_type,
                initial_variant_weight=1.0,
            )
        else:
            variant = dict(
                variant_name=VARIANT,
                model_name=self.model_name,
                serverless_config=dict(
                    memory_size_in_mb=serving.serverless_memory_mb,
                    max_concurrency=serving.serverless_max_concurrency,
                ),
            )
        capture: Optional[Dict[str, Any]] = None
        if serving.data_capture:
            capture = dict(
                enable_capture=True,
                initial_sampling_percentage=serving.data_capture_percent,
                destination_s3_uri=f"s3://{artifacts.bucket_name}/{DATA_CAPTURE_PREFIX}{self.endpoint_name}",
                kms_key_id=key.key_arn,
                capture_options=[dict(capture_mode="Input"), dict(capture_mode="Output")],
                capture_content_type_header=dict(json_content_types=["application/json"]),
            )
        config_digest = _digest([variant, serving.data_capture, serving.data_capture_percent])
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            endpoint_config_name=f"{prefix}-{config_digest}",
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(**_variant_props(variant))],
            kms_key_id=key.key_arn if instance_mode else None,
            data_capture_config=_capture_props(capture) if capture else None,
        )
        self.endpoint_config.node.add_dependency(self.model)
        if not instance_mode:
            nag.suppress(
                self.endpoint_config,
                ("AwsSolutions-SM2", "Serverless endpoints do not accept a KMS key for an ML storage volume (they have none to encrypt)."),
            )

        # ---- endpoint ---------------------------------------------------------------------------
        autoscaling = serving.autoscaling if instance_mode else None
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # Keep the instance count that autoscaling chose across blue/green updates.
            retain_all_variant_properties=True if autoscaling else None,
        )
        self.endpoint_arn = self.endpoint.ref  # Ref of AWS::SageMaker::Endpoint is its ARN

        if autoscaling:
            target = appscaling.ScalableTarget(
                self,
                "Scaling",
                service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
                resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT}",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=autoscaling.min_capacity,
                max_capacity=max(autoscaling.max_capacity, autoscaling.min_capacity),
            )
            target.scale_to_track_metric(
                "InvocationsPerInstance",
                target_value=autoscaling.target_invocations_per_instance,
                predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
                scale_in_cooldown=Duration.minutes(5),
                scale_out_cooldown=Duration.minutes(1),
            )

        # ---- alarms -------------------------------------------------------------------------------
        dims = {"EndpointName": self.endpoint.attr_endpoint_name, "VariantName": VARIANT}
        self.alarms = [
            cloudwatch.Alarm(
                self,
                "Errors5xx",
                alarm_description=f"{self.endpoint_name}: the model endpoint answers 5XX errors",
                metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="Invocation5XXErrors",
                    dimensions_map=dims,
                    statistic="Sum",
                    period=Duration.minutes(5),
                ),
                threshold=5,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "Latency",
                alarm_description=f"{self.endpoint_name}: p90 model latency above 1 s for 15 minutes",
                metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="ModelLatency",  # microseconds
                    dimensions_map=dims,
                    statistic="p90",
                    period=Duration.minutes(5),
                ),
                threshold=1_000_000,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        if alarm_topic is not None:
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))


def _variant_props(variant: Dict[str, Any]) -> Dict[str, Any]:
    props = dict(variant)
    if "serverless_config" in props:
        props["serverless_config"] = sagemaker.CfnEndpointConfig.ServerlessConfigProperty(**props["serverless_config"])
    return props


def _capture_props(capture: Dict[str, Any]) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    props = dict(capture)
    props["capture_options"] = [sagemaker.CfnEndpointConfig.CaptureOptionProperty(**o) for o in props["capture_options"]]
    props["capture_content_type_header"] = sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
        **props["capture_content_type_header"]
    )
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(**props)
