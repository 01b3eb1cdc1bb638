"""Pipeline steps 2 and 3: the SageMaker training jobs, run to completion (``.sync``).

- ``EmbeddingsJob``: BlazingText word2vec on the text8 corpus the ingest step unzipped;
- ``ClassifierJob``: the MXNet script-mode job (training/train.py) on the news dataset and
  the embeddings; SageMaker fills its ``FinalMetricDataList`` from the metric definitions
  below, which match the ``name=value;`` lines train.py prints.

Both are Task states only (no resources of their own): the execution role is given.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from headlines import hyperparameters
from headlines.instance_types import accepts_volume_kms_key
from headlines.training_time import TASK_TIMEOUT_MARGIN_SECONDS
from infra.ingest_step import NEWS_PREFIX
from infra.storage import EMBEDDINGS_PREFIX, MODELS_PREFIX
from infra.task_retries import SAGEMAKER_TRANSIENT_ERRORS, backoff_retry

#: Metrics train.py prints as ``name=value;`` lines; SageMaker keeps the last value of each.
#: ``champion_*``: the approved model on the same test rows (training/champion.py), when there is one.
CLASSIFIER_METRICS = ("test_accuracy", "test_macro_f1", "val_macro_f1", "train_loss", "champion_accuracy",
                      "champion_macro_f1")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def metric_regex(name: str) -> str:
    return f"{name}={_NUMBER};"


@dataclass(frozen=True)
class TrainingJobProps:
    job_name_prefix: str  # the job is named <prefix>-<execution name>; stage-scoped (roles are scoped by it)
    image_uri: str
    instance_type: str  # ml.*
    max_runtime_seconds: int
    hyperparameters: Mapping[str, Any]
    instance_count: int = 1
    volume_size_gb: int = 10
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStorage:
    """Where a job reads and writes: the buckets' names and the project key."""

    data_bucket: str
    artifacts_bucket: str
    key: kms.IKey


class StaticS3Location(tasks.S3Location):
    """An S3 URI (fixed, or a JSONPath of the state) that adds no IAM grant to the job role.

    CDK's ``S3Location.from_bucket`` grants wildcard actions (``s3:GetObject*``, ``s3:List*``,
    ``s3:DeleteObject*``...) on the prefix, and ``from_json_expression`` grants
    ``s3:GetObject``/``s3:ListBucket`` on ``*``; the execution role already holds exactly the
    permissions the jobs need (infra/sagemaker_role.py).
    """

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    def bind(self, task: Any, *, for_reading: Any = None, for_writing: Any = None) -> tasks.S3LocationConfig:
        return tasks.S3LocationConfig(uri=self._uri)


def s3_prefix_channel(name: str, uri: str, content_type: Optional[str] = None) -> tasks.Channel:
    return tasks.Channel(
        channel_name=name,
        content_type=content_type,
        data_source=tasks.DataSource(
            s3_data_source=tasks.S3DataSource(
                s3_location=StaticS3Location(uri),
                s3_data_type=tasks.S3DataType.S3_PREFIX,
                s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
            )
        ),
    )


def instance_type(name: str) -> ec2.InstanceType:
    # The CDK task renders "ml." + the EC2-style name.
    return ec2.InstanceType(name[3:] if name.startswith("ml.") else name)


def training_job_task(
    scope: Construct,
    state_name: str,
    *,
    props: TrainingJobProps,
    role: iam.IRole,
    storage: JobStorage,
    output_prefix: str,
    algorithm: tasks.AlgorithmSpecification,
    hyperparameters: Mapping[str, str],
    channels: Sequence[tasks.Channel],
    **state: Any,
) -> tasks.SageMakerCreateTrainingJob:
    """A ``.sync`` training job Task with the project's key on its output and volumes, and retries."""
    task = tasks.SageMakerCreateTrainingJob(
        scope,
        state_name,
        training_job_name=sfn.JsonPath.format(f"{props.job_name_prefix}-{{}}", sfn.JsonPath.string_at("$$.Execution.Name")),
        role=role,
        algorithm_specification=algorithm,
        hyperparameters=dict(hyperparameters),
        input_data_config=list(channels),
        output_data_config=tasks.OutputDataConfig(
            s3_output_location=StaticS3Location(f"s3://{storage.artifacts_bucket}/{output_prefix}"),
            encryption_key=storage.key,
        ),
        resource_config=tasks.ResourceConfig(
            instance_count=props.instance_count,
            instance_type=instance_type(props.instance_type),
            volume_size=Size.gibibytes(props.volume_size_gb),
            # SageMaker refuses a VolumeKmsKeyId on types with local storage (g4dn, g5, p4d, c5d...):
            # their instance store is encrypted by the instance's hardware (headlines.instance_types).
            volume_encryption_key=storage.key if accepts_volume_kms_key(props.instance_type) else None,
        ),
        stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(props.max_runtime_seconds)),
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        task_timeout=sfn.Timeout.duration(Duration.seconds(props.max_runtime_seconds + TASK_TIMEOUT_MARGIN_SECONDS)),
        tags=dict(props.tags),
        **state,
    )
    task.add_retry(**backoff_retry(SAGEMAKER_TRANSIENT_ERRORS, interval_s=15, attempts=5))
    return task


def scope_training_jobs(role: iam.IRole, job_prefix: str) -> None:
    """The .sync training-job integration grants ``sagemaker:*TrainingJob`` on ``training-job/*``
    when the job name is made per execution (CDK cannot know it); rewrite that to the stage's
    jobs (names ``<job_prefix>-...``), so the dev pipeline cannot describe, stop or tag prod's jobs. Call it once the
    state machine is built: later statements of the role's default policy would be dropped."""
    policy = role.node.try_find_child("DefaultPolicy")
    cfn = policy.node.default_child if policy is not None else None
    if not isinstance(cfn, iam.CfnPolicy):
        raise ValueError(f"{role.node.path} has no default policy to scope")
    any_job = ':training-job/*"'  # the end of a JSON string: a whole ARN, or the last part of a join
    text = json.dumps(Stack.of(role).resolve(cfn.policy_document))
    if any_job not in text:
        raise ValueError("CDK's training-job grant changed shape: scope_training_jobs needs a look")
    cfn.policy_document = json.loads(text.replace(any_job, f':training-job/{job_prefix}-*"'))


class EmbeddingsJob(Construct):
    """``self.task``: BlazingText on ``$.ingest.objects.corpus_text``, output under ``embeddings/``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, props: TrainingJobProps, role: iam.IRole, storage: JobStorage
    ) -> None:
        super().__init__(scope, construct_id)
        self.task = training_job_task(
            self,
            "Train embeddings",
            props=props,
            role=role,
            storage=storage,
            output_prefix=EMBEDDINGS_PREFIX,
            algorithm=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(props.image_uri),
                training_input_mode=tasks.InputMode.FILE,
            ),
            # BlazingText takes strings; booleans as true/false (headlines.hyperparameters).
            hyperparameters=props.hyperparameters,
            # The plain text8 file the ingest Lambda unzips (its own key prefix).
            channels=[s3_prefix_channel("train", sfn.JsonPath.string_at("$.ingest.objects.corpus_text"), "text/plain")],
            result_selector={
                "job_name.$": "$.TrainingJobName",
                "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            result_path="$.embeddings",
            comment="word2vec (BlazingText) on text8",
        )


class ClassifierJob(Construct):
    """``self.task``: training/train.py in script mode on ``raw/news/`` and the embeddings, output under
    ``models/``; ``self.against_champion``: the same job with the ``champion`` channel (the approved
    model's artifact, ``$.champion.model_data_url``), scored on the same test rows."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: TrainingJobProps,
        role: iam.IRole,
        storage: JobStorage,
        sourcedir: s3_assets.Asset,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task = self._job("Train classifier", props, role, storage, sourcedir, champion=False)
        self.against_champion = self._job("Train classifier against the champion", props, role, storage, sourcedir,
                                          champion=True)

    def _job(self, state_name: str, props: TrainingJobProps, role: iam.IRole, storage: JobStorage,
             sourcedir: s3_assets.Asset, champion: bool) -> tasks.SageMakerCreateTrainingJob:
        channels = [
            s3_prefix_channel("train", f"s3://{storage.data_bucket}/{NEWS_PREFIX}"),
            s3_prefix_channel("embeddings", sfn.JsonPath.string_at("$.embeddings.model_data_url"), "application/x-tar"),
        ]
        if champion:
            channels.append(s3_prefix_channel("champion", sfn.JsonPath.string_at("$.champion.model_data_url"),
                                              "application/x-tar"))
        return training_job_task(
            self,
            state_name,
            props=props,
            role=role,
            storage=storage,
            output_prefix=MODELS_PREFIX,
            algorithm=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(props.image_uri),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=[tasks.MetricDefinition(name=name, regex=metric_regex(name)) for name in CLASSIFIER_METRICS],
            ),
            # The same map the local run writes to hyperparameters.json (vector_dim included),
            # JSON-encoded like the SageMaker Python SDK does.
            hyperparameters=hyperparameters.sagemaker_hyperparameters(
                props.hyperparameters, sourcedir.s3_object_url, Stack.of(self).region
            ),
            channels=channels,
            # The whole DescribeTrainingJob answer: FinalMetricDataList may be missing, which a
            # ResultSelector could not express; the next state picks what it needs.
            result_path="$.classifier_job",
            comment="MXNet Gluon headline classifier (training/train.py, script mode)",
        )
