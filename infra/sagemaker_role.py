"""The SageMaker execution role of the training jobs: least privilege, no managed policy.

It may read the ingested data (``raw/`` of the data bucket) and the script-mode source
asset, write and read the job outputs (``embeddings/`` and ``models/`` of the artifacts
bucket), use the project key for those objects and the training volumes, write its own log
group (``/aws/sagemaker/TrainingJobs``) and pull the AWS algorithm/framework images.
"""
from __future__ import annotations

from typing import List, Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from infra import nag
from infra.images import ecr_repository_arn
from infra.service_logs import TRAINING_JOBS_LOG_GROUP
from infra.storage import EMBEDDINGS_PREFIX, MODELS_PREFIX, RAW_PREFIX, SCRATCH_PREFIX, Storage


def ecr_pull_statements(image_uris: Sequence[str], partition: str) -> List[iam.PolicyStatement]:
    return [
        # GetAuthorizationToken has no resource-level permissions: it must be "*".
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=sorted({ecr_repository_arn(uri, partition) for uri in image_uris}),
        ),
    ]


def log_group_statement(stack: Stack, log_group: str, streams: str = "") -> iam.PolicyStatement:
    """Writing the log streams named ``<streams>*`` of ``log_group`` (a shared group: the
    stage's own streams only)."""
    base = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{log_group}"
    return iam.PolicyStatement(
        actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
        resources=[base, f"{base}:log-stream:{streams}*"],
    )


def metrics_statement(namespace_pattern: str) -> iam.PolicyStatement:
    # PutMetricData has no resource-level permissions; the namespace condition scopes it.
    return iam.PolicyStatement(
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions={"StringLike": {"cloudwatch:namespace": namespace_pattern}},
    )


def key_statements(key_arn: str) -> List[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            resources=[key_arn],
        ),
        # SageMaker creates grants on the key for the encrypted ML volumes.
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


def training_role_statements(
    stack: Stack, storage: Storage, image_uris: Sequence[str], sourcedir: s3_assets.Asset, job_prefix: str
) -> List[iam.PolicyStatement]:
    """What the training jobs may do, and nothing more."""
    return [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[storage.data.arn_for_objects(RAW_PREFIX + "*")]),
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[storage.data.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [RAW_PREFIX + "*", SCRATCH_PREFIX + "*"]}},
        ),
        # Training jobs the data scientists launch from the notebook read and write scratch/.
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[storage.data.arn_for_objects(SCRATCH_PREFIX + "*")],
        ),
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[
                storage.artifacts.arn_for_objects(EMBEDDINGS_PREFIX + "*"),
                storage.artifacts.arn_for_objects(MODELS_PREFIX + "*"),
            ],
        ),
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[storage.artifacts.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [EMBEDDINGS_PREFIX + "*", MODELS_PREFIX + "*"]}},
        ),
        # The script-mode sourcedir.tar.gz asset, one object of the CDK assets bucket.
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[f"arn:{stack.partition}:s3:::{sourcedir.s3_bucket_name}/{sourcedir.s3_object_key}"],
        ),
        *key_statements(storage.key.key_arn),
        # Streams are named <job name>/algo-<n>-<time>: the stage's jobs only.
        log_group_statement(stack, TRAINING_JOBS_LOG_GROUP, f"{job_prefix}-"),
        metrics_statement("/aws/sagemaker/*"),
        *ecr_pull_statements(image_uris, stack.partition),
    ]


class SageMakerExecutionRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        image_uris: Sequence[str],
        sourcedir: s3_assets.Asset,
        job_prefix: str,  # headlines.naming.training_job_prefix: the stage's jobs
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training jobs of the headlines pipeline (least privilege)",
        )
        for statement in training_role_statements(Stack.of(self), storage, image_uris, sourcedir, job_prefix):
            self.role.add_to_principal_policy(statement)
        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageData", RAW_PREFIX), "Training reads the ingested datasets: objects under raw/ only."),
            (nag.objects_under("StorageData", SCRATCH_PREFIX), "Notebook-launched training jobs read and write experiments under scratch/ only."),
            (nag.objects_under("StorageArtifacts", EMBEDDINGS_PREFIX), "BlazingText writes, and the classifier reads, its model under embeddings/ only."),
            (nag.objects_under("StorageArtifacts", MODELS_PREFIX), "The classifier job writes its model.tar.gz under models/ only."),
            (nag.log_streams_of(TRAINING_JOBS_LOG_GROUP, f"{job_prefix}-"), "Training containers write the log streams of the stage's jobs (named per job) only."),
            (r"Resource::\*", "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; PutMetricData is limited by a namespace condition."),
            (r"Action::kms:(GenerateDataKey|ReEncrypt)\*", "Granted by CDK's SageMaker training task for the output/volume key: the project key only (Resource is that key)."),
        )
