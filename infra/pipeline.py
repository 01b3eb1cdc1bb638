"""The training pipeline: a Step Functions state machine chaining one construct per step.

    Ingest datasets (Lambda)                                   infra/ingest_step.py
      -> Train embeddings (BlazingText training job, .sync)    infra/training_jobs.py
      -> Find champion (ssm:GetParameter of the serving pointer) -> Champion? (Choice)
      -> Train classifier [against the champion] (MXNet script-mode training job, .sync;
         the champion channel when a model is approved: scored on the same test rows)
      -> Read quality metric -> Quality gate (Choice) -> Fail  infra/quality_gate.py
      -> Read model version (Lambda: metrics.json of the artifact, copied beside it)
      -> Prepare registration -> Register model                infra/registry.py
         (sagemaker:CreateModelPackage: Approved, or PendingManualApproval in prod)
      -> Point serving at the model, Publish approval record   infra/publish_steps.py
         (ssm:PutParameter; auto-approving stages only)
      -> Model approved | Model awaiting approval (Succeed)

An approval later (``headlines model approve``, SageMaker's console) reaches the same pointer
through the registry's EventBridge rule (infra/registry.py).

Both SSM parameters belong to this stack (CloudFormation creates them with the value ``none``
and deletes them with the stack), so a destroyed stage leaves no pointer to a deleted bucket.
The state machine overwrites their values; CloudFormation never rewrites them as long as their
template properties stay the same (changing them would reset the value to ``none``).

Every Task state has a timeout and retries with exponential backoff and jitter on throttling
and transient service errors (infra/task_retries.py); the state machine logs ALL events to
CloudWatch Logs, is traced with X-Ray, and a failed, timed-out or aborted execution is
announced on an SNS topic (KMS-encrypted) through an EventBridge rule (infra/pipeline_alerts.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from headlines.naming import NO_MODEL, NO_MODEL_POINTER
from infra import nag
from infra.ingest_step import IngestStep, IngestStepProps
from infra.pipeline_alerts import AlertsTopic, AlertsTopicProps, FailedExecutionsRule
from infra.publish_steps import ModelVersionStep, ModelVersionStepProps, ParameterRef, PublishApproval, PublishApprovalProps
from infra.quality_gate import QualityGate, QualityGateProps
from infra.registry import ModelRegistry, RegistrationSteps, RegistryProps
from infra.retention import Retention
from infra.storage import Storage
from infra.task_retries import SSM_TRANSIENT_ERRORS, backoff_retry
from infra.training_jobs import ClassifierJob, EmbeddingsJob, JobStorage, TrainingJobProps, scope_training_jobs


@dataclass(frozen=True)
class PipelineProps:
    resource_prefix: str
    state_machine_name: str
    approval_parameter: str  # SSM parameter names
    serving_parameter: str
    ingest: IngestStepProps
    embeddings: TrainingJobProps
    classifier: TrainingJobProps
    quality_gate: QualityGateProps
    model_version: ModelVersionStepProps
    alerts: AlertsTopicProps
    registry: RegistryProps
    training_job_prefix: str = "headlines"  # the jobs' names start with it (stage-scoped)
    timeout_minutes: int = 240
    retention: Retention = Retention()


def parameter_ref(stack: Stack, name: str) -> ParameterRef:
    return ParameterRef(name=name, arn=stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/")))


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: PipelineProps,
        storage: Storage,
        role: iam.IRole,
        sourcedir: s3_assets.Asset,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.approval = parameter_ref(stack, props.approval_parameter)
        self.serving_model = parameter_ref(stack, props.serving_parameter)
        self.parameter_name, self.serving_parameter_name = self.approval.name, self.serving_model.name
        self.parameters = self._model_parameters()
        self.topic = AlertsTopic(self, "Alerts", props=props.alerts, key=storage.key)

        self.ingest = IngestStep(self, "Ingest", props=props.ingest, data=storage.data, key=storage.key)
        jobs = JobStorage(data_bucket=storage.data.bucket_name, artifacts_bucket=storage.artifacts.bucket_name, key=storage.key)
        embeddings = EmbeddingsJob(self, "EmbeddingsJob", props=props.embeddings, role=role, storage=jobs)
        classifier = ClassifierJob(self, "ClassifierJob", props=props.classifier, role=role, storage=jobs, sourcedir=sourcedir)
        self.identity = ModelVersionStep(
            self, "ModelIdentity", props=props.model_version, artifacts=storage.artifacts, key=storage.key
        )
        self.registry = ModelRegistry(self, "Registry", props=props.registry, serving=self.serving_model,
                                      approval=self.approval)
        registration = RegistrationSteps(
            self, "Registration", props=props.registry, registry=self.registry, code_sha256=sourcedir.asset_hash,
            gate_metric=props.quality_gate.metric, threshold=props.quality_gate.threshold,
            tolerance=props.quality_gate.tolerance,
        )
        if props.registry.manual_approval:
            registration.register.next(sfn.Succeed(self, "Model awaiting approval", output_path="$.approved",
                                                   comment="headlines model approve VERSION (or SageMaker's console)"))
        else:
            publish = PublishApproval(self, "Publish", props=PublishApprovalProps(serving=self.serving_model, approval=self.approval))
            registration.register.next(publish.chain).next(sfn.Succeed(self, "Model approved", output_path="$.approved"))
        gate = QualityGate(self, "QualityGate", props=props.quality_gate,
                           approved=self.identity.task.next(registration.start))
        champion = self._find_champion()
        choice = (
            sfn.Choice(self, "Champion?", comment="an approved model is scored on the same test rows")
            .when(sfn.Condition.string_matches("$.champion.pointer", "none *"), classifier.task)
            .otherwise(classifier.against_champion)
        )
        self.ingest.task.next(embeddings.task).next(champion).next(choice)
        classifier.task.next(gate.start)
        classifier.against_champion.next(gate.start)

        self.log_group = self._log_group(props.resource_prefix, props.retention)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=props.state_machine_name,
            comment="headlines: ingest -> embeddings -> classifier -> quality gate -> publish",
            definition_body=sfn.DefinitionBody.from_chainable(self.ingest.task),
            timeout=Duration.minutes(props.timeout_minutes),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            # A fixed name, always deleted with the stack: its execution history is not data worth keeping.
            removal_policy=RemovalPolicy.DESTROY,
        )
        scope_training_jobs(self.state_machine.role, props.training_job_prefix)
        FailedExecutionsRule(
            self, "FailedExecutions", resource_prefix=props.resource_prefix, state_machine=self.state_machine, topic=self.topic
        )
        nag.allow_wildcards(
            self,
            (r"Resource::<PipelineModelIdentityFunction[A-Za-z0-9]*\.Arn>:\*", "Step Functions' Lambda integration may invoke the model-identity function's versions/aliases (CDK's grant)."),
            (r"Resource::<PipelineIngestFunction[A-Za-z0-9]*\.Arn>:\*", "Step Functions' Lambda integration may invoke the ingest function's versions/aliases (CDK's grant)."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:training-job/{re.escape(props.training_job_prefix)}-\*", "The SageMaker .sync integration creates, describes and stops the stage's training jobs, whose names are made per execution."),
            nag.XRAY,
        )

    def _find_champion(self) -> tasks.CallAwsService:
        """``$.champion``: the serving pointer (``<model_version> <model_data_url>``, or ``none ...``)."""
        task = tasks.CallAwsService(
            self,
            "Find champion",
            service="ssm",
            action="getParameter",
            iam_action="ssm:GetParameter",
            iam_resources=[self.serving_model.arn],
            parameters={"Name": self.serving_model.name},
            result_selector={
                "pointer.$": "$.Parameter.Value",
                "model_data_url.$": "States.ArrayGetItem(States.StringSplit($.Parameter.Value, ' '), 1)",
            },
            result_path="$.champion",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
            comment="The approved model (the serving pointer): the champion the new model is compared with",
        )
        task.add_retry(**backoff_retry(SSM_TRANSIENT_ERRORS, interval_s=2, attempts=5))
        return task

    def _model_parameters(self) -> list:
        """Owned by this stack (deleted with it, whatever the stage: a retained fixed name would
        clash with the next deploy); the pipeline overwrites the values."""
        return [
            ssm.StringParameter(self, logical, parameter_name=name, string_value=initial, description=description)
            for logical, name, initial, description in (
                ("ApprovalRecord", self.approval.name, NO_MODEL, "Approval record (JSON) of the last approved model; written by the pipeline"),
                ("ServingModel", self.serving_model.name, NO_MODEL_POINTER, "'<model_version> <model_data_url>' of the approved model; written by the pipeline, deployed by the serving stack"),
            )
        ]

    def _log_group(self, resource_prefix: str, retention: Retention) -> logs.LogGroup:
        """The state machine's log group. It is retained in prod, so its name ends with this
        stack's id: a redeploy after a destroy creates a new one instead of clashing with the
        kept one. (The /aws/vendedlogs/ prefix keeps CloudWatch Logs' account resource policy small.)"""
        stack_uuid = Fn.select(2, Fn.split("/", Stack.of(self).stack_id))
        return logs.LogGroup(
            self,
            "Logs",
            log_group_name=Fn.join("", [f"/aws/vendedlogs/states/{resource_prefix}-pipeline-", stack_uuid]),
            retention=retention.log_retention,
            removal_policy=retention.removal,
        )
