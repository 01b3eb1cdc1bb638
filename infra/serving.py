"""Serving: the SageMaker Model, EndpointConfig and Endpoint, owned by CloudFormation.

The model to serve is resolved by CloudFormation at deploy time, not by the app at synth
time: a template parameter of type ``AWS::SSM::Parameter::Value<String>`` reads
``/<project>/<stage>/model/serving`` (``<model_version> <model_data_url>``, written by the
pipeline's publish step; ``none no-model-approved-yet`` until then). A template rule stops the deploy before any
resource changes, with one line, while no model is approved. The CDK CLI always deploys a
stack with such a parameter (it cannot know the value), so ``cdk deploy <prefix>Serving``
after a pipeline run picks up the new model without any context.

The approved ``model.tar.gz`` carries its serving code under ``code/``; the MXNet inference
container is pointed at it with ``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY``.

Model and EndpointConfig have no explicit names: a new model URL changes the Model's
properties, CloudFormation replaces it (new generated name), which replaces the EndpointConfig,
and CloudFormation updates the Endpoint (fixed name) to the new config. SageMaker does that
blue/green; in instance mode with deployment guardrails (``DeploymentConfig``): all traffic
moves to the new fleet, the old fleet stays for a baking period while the endpoint's 5XX and
latency alarms are watched, and SageMaker rolls back on its own when one fires. The model role
may read every artifact under ``models/`` of the artifacts bucket, so the old fleet (rollback,
scale-out during an update) can still download its model. The pipeline never touches the
endpoint.

Modes (``serving.mode``):
- ``instance``: ``initial_instance_count`` x ``instance_type``, target-tracking autoscaling on
  ``SageMakerVariantInvocationsPerInstance``, KMS-encrypted ML storage volume, network isolation,
  optional data capture to ``s3://<artifacts>/datacapture/``;
- ``serverless``: ``ServerlessConfig`` (memory, max concurrency), near-zero idle cost. SageMaker
  does not support network isolation, a KMS volume key, data capture or deployment guardrails
  there.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from aws_cdk import CfnParameter, CfnRule, CfnRuleAssertion, Duration, Fn, Stack
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
from headlines.naming import NO_MODEL_POINTER, endpoint_name, resource_prefix, serving_model_parameter, serving_stack_name
from infra.sagemaker_role import ecr_pull_statements, log_group_statement, metrics_statement
from infra.storage import DATA_CAPTURE_PREFIX, MODELS_PREFIX

VARIANT = "AllTraffic"
#: Deployment guardrails: how long the old fleet stays while the alarms are watched.
BAKE_SECONDS = 600


def no_model_message(cfg: HeadlinesConfig) -> str:
    return (
        f"No model has been approved yet ({serving_model_parameter(cfg)} says none): run "
        f"headlines pipeline start --wait, then deploy {serving_stack_name(cfg)} again."
    )


class Serving(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
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
        prefix = resource_prefix(cfg)
        self.endpoint_name = endpoint_name(cfg)

        # ---- the approved model, resolved by CloudFormation at deploy time ------------------
        self.approved = CfnParameter(
            stack,
            "ApprovedModel",
            type="AWS::SSM::Parameter::Value<String>",
            default=serving_model_parameter(cfg),
            description="SSM parameter with '<model_version> <model_data_url>' of the approved model (written by the pipeline)",
        )
        CfnRule(
            stack,
            "ModelApproved",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_not(Fn.condition_equals(self.approved.value_as_string, NO_MODEL_POINTER)),
                    assert_description=no_model_message(cfg),
                )
            ],
        )
        fields = Fn.split(" ", self.approved.value_as_string)
        self.model_version = Fn.select(0, fields)
        self.model_data_url = Fn.select(1, fields)
        model_data_url = self.model_data_url

        # ---- execution role of the model ----------------------------------------------------
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{prefix} endpoint: read the approved model artifacts, pull the MXNet inference image",
        )
        statements = [
            # Every model the pipeline wrote, not only the current one: during a blue/green
            # update or after a rollback, the old fleet downloads its own (previous) artifact.
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(MODELS_PREFIX + "*")]),
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
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + MODELS_PREFIX + r"\*", "The endpoint reads the model artifacts under models/ of the artifacts bucket (the current and previous models: blue/green, rollback)."),
            (nag.log_streams_of("/aws/sagemaker/Endpoints/" + self.endpoint_name), "The model container writes log streams of its own endpoint's log group only."),
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + DATA_CAPTURE_PREFIX + r"\*", "Data capture writes objects under datacapture/ of the artifacts bucket only."),
            (r"Resource::\*", "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; PutMetricData is limited by a namespace condition."),
        )

        # ---- model ------------------------------------------------------------------------
        environment = {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_REGION": stack.region,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            # inference.py's request limits: the API's own (cdk.json headlines.api)
            "HEADLINES_MAX_BATCH": str(cfg.api.max_batch_size),
            "HEADLINES_MAX_CHARS": str(cfg.api.max_headline_chars),
        }
        # No explicit name: a new artifact replaces the Model (and so the EndpointConfig) under
        # a new generated name, which is what makes the endpoint update blue/green.
        self.model = sagemaker.CfnModel(
            self,
            "Model",
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
                model_name=self.model.attr_model_name,
                initial_instance_count=serving.initial_instance_count,
                instance_type=serving.instance_type,
                initial_variant_weight=1.0,
            )
        else:
            variant = dict(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
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
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
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

        # ---- alarms (before the endpoint: the deployment guardrails watch them) -------------
        # The dimensions name the endpoint literally: a GetAtt would make a cycle with the
        # endpoint's rollback alarms.
        dims = {"EndpointName": self.endpoint_name, "VariantName": VARIANT}
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
                    period=Duration.minutes(1),
                ),
                threshold=5,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "Latency",
                alarm_description=f"{self.endpoint_name}: p90 model latency above 1 s for 3 minutes",
                metric=cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name="ModelLatency",  # microseconds
                    dimensions_map=dims,
                    statistic="p90",
                    period=Duration.minutes(1),
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

        # ---- endpoint ---------------------------------------------------------------------------
        autoscaling = serving.autoscaling if instance_mode else None
        deployment = None
        if instance_mode:
            # Guardrails: shift all traffic, bake while watching the alarms, roll back on alarm.
            # (Canary shifting needs a canary of at most half the new fleet: not with 1 instance.)
            deployment = sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                        type="ALL_AT_ONCE", wait_interval_in_seconds=BAKE_SECONDS
                    ),
                    termination_wait_in_seconds=0,
                    maximum_execution_timeout_in_seconds=3600,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in self.alarms]
                ),
            )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # Keep the instance count that autoscaling chose across blue/green updates.
            retain_all_variant_properties=True if autoscaling else None,
            deployment_config=deployment,
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
