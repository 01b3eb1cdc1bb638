"""Serving: the SageMaker Model, EndpointConfig and Endpoint, owned by CloudFormation.

The model to serve is resolved by CloudFormation at deploy time, not by the app at synth
time: a template parameter of type ``AWS::SSM::Parameter::Value<String>`` reads
``/<project>/<stage>/model/serving`` (``<model_version> <model_data_url>``, written by the
pipeline's publish step; ``none no-model-approved-yet`` until then). A template rule stops the deploy before any
resource changes, with one line, while no model is approved. The CDK CLI always deploys a
stack with such a parameter (it cannot know the value), so ``cdk deploy <prefix>Serving``
after a pipeline run picks up the new model without any context.

One construct per concern: the model and its role (infra/serving_model.py), the endpoint
config, alarms, endpoint with deployment guardrails and autoscaling (infra/endpoint.py). The
model role may read every artifact under ``models/`` of the artifacts bucket, so the old fleet
(rollback, scale-out during an update) can still download its model. The pipeline never
touches the endpoint.

Modes (``serving.mode``):
- ``instance``: ``initial_instance_count`` x ``instance_type``, target-tracking autoscaling on
  ``SageMakerVariantInvocationsPerInstance``, KMS-encrypted ML storage volume, network isolation,
  optional data capture to ``s3://<artifacts>/datacapture/``;
- ``serverless``: ``ServerlessConfig`` (memory, max concurrency), near-zero idle cost. SageMaker
  does not support network isolation, a KMS volume key, data capture or deployment guardrails
  there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from aws_cdk import CfnDeletionPolicy, CfnParameter, CfnResource, CfnRule, CfnRuleAssertion, Fn, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from headlines.naming import NO_MODEL_POINTER
from infra import nag
from infra.endpoint import (
    AutoscalingProps,
    BlueGreenEndpoint,
    CapacityProps,
    DataCaptureProps,
    EndpointAutoscaling,
    EndpointConfiguration,
    endpoint_alarms,
)
from infra.retention import Retention
from infra.service_logs import endpoint_log_group, owned_service_log_group
from infra.serving_model import ModelRole, ModelRoleProps, ServedModel, ServedModelProps


@dataclass(frozen=True)
class ApprovedModelProps:
    parameter_name: str  # SSM: '<model_version> <model_data_url>'
    no_model_message: str  # the template rule's line while the parameter says none


@dataclass(frozen=True)
class ServingProps:
    resource_prefix: str
    endpoint_name: str
    approved_model: ApprovedModelProps
    # The model container's request limits: the API's own (cdk.json headlines.api), no default here.
    max_batch_size: int
    max_headline_chars: int
    capacity: CapacityProps = CapacityProps()
    retention: Retention = Retention()  # the endpoint's log group
    autoscaling: Optional[AutoscalingProps] = None  # instance mode only
    data_capture: Optional[DataCaptureProps] = None  # instance mode only


def approved_model_pointer(stack: Stack, props: ApprovedModelProps) -> Tuple[str, str]:
    """``(model_version, model_data_url)``, resolved by CloudFormation when it deploys the stack;
    the template rule refuses the deploy while no model is approved."""
    approved = CfnParameter(
        stack,
        "ApprovedModel",
        type="AWS::SSM::Parameter::Value<String>",
        default=props.parameter_name,
        description="SSM parameter with '<model_version> <model_data_url>' of the approved model (written by the pipeline)",
    )
    CfnRule(
        stack,
        "ModelApproved",
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_not(Fn.condition_equals(approved.value_as_string, NO_MODEL_POINTER)),
                assert_description=props.no_model_message,
            )
        ],
    )
    fields = Fn.split(" ", approved.value_as_string)
    return Fn.select(0, fields), Fn.select(1, fields)


def keep_replaced_versions(*resources: CfnResource) -> None:
    """A new model replaces the Model and the EndpointConfig; CloudFormation deletes the old ones
    in the cleanup phase of a stack update it reports as successful. With deployment guardrails
    SageMaker may roll the endpoint back to the old configuration on its own (an alarm during the
    bake), so the old ones are kept (UpdateReplacePolicy: Retain): the endpoint never runs on a
    deleted configuration (scale-out and the next update need it). They cost nothing; docs/aws.md
    says how to list and delete the ones no endpoint uses."""
    for resource in resources:
        resource.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN
        nag.suppress(resource, ("CloudFormation-Validate::W3011", "Replaced versions are kept for a rollback SageMaker may make on its own; "
                                          "on destroy they go with the endpoint, on purpose (no DeletionPolicy Retain)."))


class Serving(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: ServingProps,
        image_uri: str,
        key: kms.IKey,
        artifacts: s3.IBucket,
        alarm_topic: Optional[sns.ITopic] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        instance_mode = props.capacity.instance_mode
        self.endpoint_name = props.endpoint_name
        self.model_version, self.model_data_url = approved_model_pointer(Stack.of(self), props.approved_model)
        self.role = ModelRole(
            self,
            "Role",
            props=ModelRoleProps(
                resource_prefix=props.resource_prefix,
                endpoint_name=props.endpoint_name,
                image_uri=image_uri,
                data_capture=props.data_capture is not None,
                volume_key=props.capacity.volume_key,
            ),
            key=key,
            artifacts=artifacts,
        )
        self.model = ServedModel(
            self,
            "Model",
            props=ServedModelProps(image_uri=image_uri, model_data_url=self.model_data_url, network_isolation=instance_mode,
                                   max_batch_size=props.max_batch_size, max_headline_chars=props.max_headline_chars),
            role=self.role,
        )
        self.endpoint_config = EndpointConfiguration(
            self,
            "EndpointConfig",
            capacity=props.capacity,
            model=self.model,
            key_arn=key.key_arn,
            endpoint_name=props.endpoint_name,
            artifacts_bucket=artifacts.bucket_name,
            data_capture=props.data_capture,
        )
        if instance_mode:
            keep_replaced_versions(self.model, self.endpoint_config)
        # Before the endpoint: the deployment guardrails watch them.
        self.alarms = endpoint_alarms(self, props.endpoint_name, alarm_topic)
        autoscaling = props.autoscaling if instance_mode else None
        self.endpoint = BlueGreenEndpoint(
            self,
            "Endpoint",
            endpoint_name=props.endpoint_name,
            config=self.endpoint_config,
            rollback_alarms=self.alarms if instance_mode else None,
            autoscaled=autoscaling is not None,
        )
        self.endpoint_arn = self.endpoint.endpoint_arn
        # The group the model container logs to, before the endpoint, gone after it (infra/service_logs.py).
        self.log_group = owned_service_log_group(self, "Logs", endpoint_log_group(props.endpoint_name), props.retention)
        self.endpoint.node.add_dependency(self.log_group)
        if autoscaling is not None:
            EndpointAutoscaling(self, "Scaling", props=autoscaling, endpoint=self.endpoint)
