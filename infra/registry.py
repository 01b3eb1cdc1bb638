"""The model registry: the stage's SageMaker model package group, the pipeline's registration
step, and the approval rule that moves the serving pointer.

- ``ModelRegistry``: the group (``<prefix>-models-<8 hex of the stack id>``, retained on
  destroy: it holds every model's record, and SageMaker does not delete a group that still
  has versions; the suffix lets a redeploy create a new one), and an EventBridge rule on
  "SageMaker Model Package State Change" for that group whose target, a Lambda
  (functions/model_approval/), writes the serving pointer and the approval record of the
  approved package approved last. An approval from ``headlines model approve``, from
  SageMaker's console or from the pipeline therefore reaches the next
  ``npx cdk deploy <prefix>Serving``.
- ``RegistrationSteps``: after the gate, ``Prepare registration`` (JSONata: the package's
  fields, every value a string) and ``Register model`` (``sagemaker:CreateModelPackage``
  through the AWS SDK integration): the MXNet inference image and the artifact, the content
  types inference.py reads and writes, ModelMetrics (the artifact's metrics.json, copied
  beside it by the model-identity function), and the lineage and gate figures as
  CustomerMetadataProperties. Dev registers ``Approved``; a stage with manual approval
  registers ``PendingManualApproval`` and waits for a person.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from headlines.registry import APPROVED, PENDING
from infra import nag
from infra.functions import PythonFunction, PythonFunctionProps
from infra.publish_steps import ParameterRef
from infra.retention import Retention
from infra.task_retries import SAGEMAKER_TRANSIENT_ERRORS, backoff_retry

#: What inference/inference.py's input_fn reads and output_fn writes.
CONTENT_TYPES = ("application/json", "text/csv", "text/plain")
RESPONSE_TYPES = ("application/json",)
STATE_CHANGE = "SageMaker Model Package State Change"


@dataclass(frozen=True)
class RegistryProps:
    group_prefix: str  # headlines.naming.model_package_group_name: the group is <prefix>-<8 hex>
    inference_image: str
    framework_version: str  # the MXNet version of the image (ModelPackageContainerDefinition.FrameworkVersion)
    manual_approval: bool
    service_name: str
    retention: Retention = Retention()


class ModelRegistry(Construct):
    """The model package group, and the approval rule with its target function."""

    def __init__(self, scope: Construct, construct_id: str, *, props: RegistryProps, serving: ParameterRef,
                 approval: ParameterRef) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        suffix = Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", stack.stack_id))))
        self.group_name = Fn.join("-", [props.group_prefix, suffix])
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "Group",
            model_package_group_name=self.group_name,
            model_package_group_description=f"{props.group_prefix}: every model that reached the pipeline's gate",
        )
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)
        self.group_arn = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=self.group_name)
        # Versions are model-package/<group>/<n>.
        self.packages_arn = stack.format_arn(service="sagemaker", resource="model-package",
                                             resource_name=Fn.join("", [self.group_name, "/*"]))

        self.approval = PythonFunction(
            self,
            "Approval",
            props=PythonFunctionProps(
                folder="model_approval",
                handler="model_approval.handler",
                description="Points serving at the approved model when a model package's status changes",
                environment={
                    "POWERTOOLS_SERVICE_NAME": props.service_name,
                    "MODEL_PACKAGE_GROUP": self.group_name,
                    "SERVING_PARAMETER": serving.name,
                    "APPROVAL_PARAMETER": approval.name,
                },
                timeout=Duration.minutes(1),
                memory_mb=256,
                retention=props.retention,
            ),
        )
        role = self.approval.role
        # ListModelPackages takes no resource-level permission (the service authorization reference).
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"],
                                                         resources=[self.packages_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["ssm:PutParameter"],
                                                         resources=[serving.arn, approval.arn]))
        self.rule = events.Rule(
            self,
            "StateChange",
            description=f"{props.group_prefix}: a model package's approval status changed -> the serving pointer",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=[STATE_CHANGE],
                detail={"ModelPackageGroupName": [self.group_name]},
            ),
        )
        self.rule.add_target(targets.LambdaFunction(self.approval.function, retry_attempts=4,
                                                    max_event_age=Duration.hours(2)))
        nag.allow_wildcards(
            scope,  # this function's role and the state machine's (CreateModelPackage)
            (r"Resource::\*", "sagemaker:ListModelPackages has no resource-level permissions; the function lists its own group only."),
            (packages_wildcard(props.group_prefix), "The versions of the stage's model package group (model-package/<group>/<version>)."),
        )


def packages_wildcard(group_prefix: str) -> str:
    """cdk-nag's text of ``model-package/<group>/*`` (the group's name ends with a piece of the stack id)."""
    return (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:model-package/"
            rf"{re.escape(group_prefix)}-.*/\*")


class RegistrationSteps(Construct):
    """``self.start``: prepare the package's fields, then register it; ``self.end``: the last state."""

    def __init__(self, scope: Construct, construct_id: str, *, props: RegistryProps, registry: ModelRegistry,
                 code_sha256: str, gate_metric: str, threshold: float, tolerance: float) -> None:
        super().__init__(scope, construct_id)
        status = PENDING if props.manual_approval else APPROVED
        self.status = status
        self.start = sfn.Pass.jsonata(
            self,
            "Prepare registration",
            comment="The model package's fields: lineage and gate figures as strings (CustomerMetadataProperties)",
            outputs=registration_expression(code_sha256, gate_metric, threshold, tolerance, status),
        )
        self.register = tasks.CallAwsService(
            self,
            "Register model",
            service="sagemaker",
            action="createModelPackage",
            iam_action="sagemaker:CreateModelPackage",
            iam_resources=[registry.packages_arn, registry.group_arn],
            parameters=create_model_package_parameters(registry.group_name, props, status),
            result_selector={"arn.$": "$.ModelPackageArn", "status": status},
            result_path="$.approved.model_package",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
            comment=f"CreateModelPackage in the stage's model package group, {status}",
        )
        self.register.add_retry(**backoff_retry(SAGEMAKER_TRANSIENT_ERRORS, interval_s=5, attempts=5))
        self.start.next(self.register)


def create_model_package_parameters(group_name: str, props: RegistryProps, status: str) -> dict:
    """CreateModelPackage's request: fixed values and JSONPaths into ``$.registration``."""
    return {
        "ModelPackageGroupName": group_name,
        "ModelPackageDescription.$": "$.registration.description",
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [{
                "Image": props.inference_image,
                "ModelDataUrl.$": "$.approved.model_data_url",
                "Framework": "MXNET",
                "FrameworkVersion": props.framework_version,
            }],
            "SupportedContentTypes": list(CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(RESPONSE_TYPES),
        },
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri.$": "$.registration.metrics_url"}}},
        "CustomerMetadataProperties.$": "$.registration.metadata",
    }


def registration_expression(code_sha256: str, metric: str, threshold: float, tolerance: float, status: str) -> str:
    """JSONata: the state with ``approved.model_version`` and ``registration`` (every metadata value a string)."""
    # SageMaker's metadata values are 1 to 256 characters: "none" stands for no value.
    approved_at = "$states.context.State.EnteredTime" if status == APPROVED else "'none'"
    return (
        "{% (\n"
        "  $in := $states.input;\n"
        "  $id := $in.identity;\n"
        "  $str := function($v) { $exists($v) and $v != null ? $string($v) : 'none' };\n"
        "  $merge([$in, {\n"
        "    'approved': $merge([$in.approved, {'model_version': $id.model_version, 'gate': $merge([$in.quality, {\n"
        "      'champion_version': $id.champion_version, 'test_rows': $id.test_rows,\n"
        "      'test_rows_sha256': $id.test_rows_sha256, 'verdict': 'promote'}])}]),\n"
        "    'registration': {\n"
        "      'metrics_url': $id.metrics_url,\n"
        f"      'description': 'model ' & $id.model_version & ': {metric} ' & $str($in.quality.value) & ', champion ' & $str($in.quality.champion) & ' on the same ' & $id.test_rows & ' rows',\n"
        "      'metadata': {\n"
        "        'model_version': $id.model_version,\n"
        "        'execution': $states.context.Execution.Name,\n"
        "        'training_job': $in.classifier.job_name,\n"
        "        'embeddings_job': $in.embeddings.job_name,\n"
        "        'news_sha256': $str($in.ingest.checksums.news),\n"
        "        'corpus_sha256': $str($in.ingest.checksums.corpus),\n"
        f"        'code_sha256': '{code_sha256}',\n"
        f"        'gate_metric': '{metric}',\n"
        "        'gate_value': $str($in.quality.value),\n"
        f"        'gate_threshold': '{threshold}',\n"
        f"        'gate_tolerance': '{tolerance}',\n"
        "        'champion_version': $id.champion_version,\n"
        "        'champion_value': $str($in.quality.champion),\n"
        "        'test_rows': $id.test_rows,\n"
        "        'test_rows_sha256': $id.test_rows_sha256,\n"
        "        'verdict': 'promote',\n"
        "        'reason': 'none',\n"
        "        'test_accuracy': $str($in.approved.metrics.test_accuracy),\n"
        "        'test_macro_f1': $str($in.approved.metrics.test_macro_f1),\n"
        f"        'approved_at': {approved_at}\n"
        "      }\n"
        "    }\n"
        "  }])\n"
        ") %}"
    )
