"""Pipeline steps 5 and 6: the approved model's identity, then the two SSM parameters.

- ``ModelVersionStep``: a Lambda reads ``model_version`` from metrics.json inside the trained
  model.tar.gz (the content hash of its parameters; functions/model_identity/), with the test
  rows' count and checksum, and copies metrics.json beside the artifact (``$.identity``);
- ``PublishApproval``: ``ssm:PutParameter`` of ``<model_version> <model_data_url>`` (what the
  serving stack deploys) and of the approval record (JSON).
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import nag
from infra.functions import PythonFunction, PythonFunctionProps
from infra.retention import Retention
from infra.storage import MODELS_PREFIX
from infra.task_retries import LAMBDA_TRANSIENT_ERRORS, SSM_TRANSIENT_ERRORS, backoff_retry


@dataclass(frozen=True)
class ModelVersionStepProps:
    service_name: str  # POWERTOOLS_SERVICE_NAME
    retention: Retention = Retention()


@dataclass(frozen=True)
class ParameterRef:
    name: str
    arn: str


@dataclass(frozen=True)
class PublishApprovalProps:
    serving: ParameterRef  # '<model_version> <model_data_url>', deployed by the serving stack
    approval: ParameterRef  # the approval record (JSON)


class ModelVersionStep(PythonFunction):
    """The model-identity function (it may read ``models/`` only) and ``self.task``, which invokes it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: ModelVersionStepProps,
        artifacts: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            props=PythonFunctionProps(
                folder="model_identity",
                handler="model_identity.handler",
                description="Reads model_version from metrics.json of the trained model.tar.gz",
                environment={"POWERTOOLS_SERVICE_NAME": props.service_name},
                timeout=Duration.minutes(2),
                memory_mb=512,
                retention=props.retention,
            ),
        )
        # It reads the artifact and writes its metrics.json beside it (the model package's ModelMetrics).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"],
                                resources=[artifacts.arn_for_objects(MODELS_PREFIX + "*")])
        )
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"],
                                                              resources=[key.key_arn]))
        self.task = tasks.LambdaInvoke(
            self,
            "Read model version",
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object({"model_data_url.$": "$.approved.model_data_url", "details": True}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.identity",
            task_timeout=sfn.Timeout.duration(Duration.minutes(3)),
            comment="model_version of metrics.json in the artifact (the content hash of its parameters), the test "
                    "rows' count and checksum; metrics.json is copied beside the artifact",
        )
        self.task.add_retry(**backoff_retry(LAMBDA_TRANSIENT_ERRORS, interval_s=2, attempts=5))
        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageArtifacts", MODELS_PREFIX), "The model-identity function reads trained artifacts under models/ and writes their metrics.json beside them."),
        )


def put_parameter_task(scope: Construct, state_name: str, parameter: ParameterRef, value_path: str, comment: str) -> tasks.CallAwsService:
    """``ssm:PutParameter`` (overwrite) of ``parameter`` with the value at ``value_path``."""
    task = tasks.CallAwsService(
        scope,
        state_name,
        service="ssm",
        action="putParameter",
        iam_action="ssm:PutParameter",
        iam_resources=[parameter.arn],
        parameters={"Name": parameter.name, "Type": "String", "Overwrite": True, "Value.$": value_path},
        result_path=sfn.JsonPath.DISCARD,
        task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        comment=comment,
    )
    task.add_retry(**backoff_retry(SSM_TRANSIENT_ERRORS, interval_s=2, attempts=5))
    return task


class PublishApproval(Construct):
    """``self.chain``: point serving at the model, then publish the approval record."""

    def __init__(self, scope: Construct, construct_id: str, *, props: PublishApprovalProps) -> None:
        super().__init__(scope, construct_id)
        point = put_parameter_task(
            self,
            "Point serving at the model",
            props.serving,
            "States.Format('{} {}', $.approved.model_version, $.approved.model_data_url)",
            f"'<model_version> <model_data_url>' to {props.serving.name} (the serving stack deploys it)",
        )
        publish = put_parameter_task(
            self,
            "Publish approved model",
            props.approval,
            "States.JsonToString($.approved)",
            f"Write the approval record to {props.approval.name}",
        )
        self.chain = point.next(publish)
