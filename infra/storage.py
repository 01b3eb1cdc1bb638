"""Storage: the project's KMS key and its three buckets (data, artifacts, access logs).

Every bucket blocks public access, denies plain-HTTP requests (and TLS below 1.2) and is
encrypted: data and artifacts with the project's customer-managed KMS key (with S3 bucket
keys, to keep KMS request costs down), the access-log bucket with SSE-S3 because S3 server
access logging cannot deliver to an SSE-KMS bucket.

Removal follows the stage: a dev stage deletes everything on ``cdk destroy`` (objects
included, through CDK's auto-delete custom resource); a prod stage retains the key and the
buckets with their data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.retention import Retention

# Key prefixes inside the buckets (the IAM policies are scoped to them).
RAW_PREFIX = "raw/"  # data bucket: ingested datasets
SCRATCH_PREFIX = "scratch/"  # data bucket: notebook experiments, expire after 30 days
EMBEDDINGS_PREFIX = "embeddings/"  # artifacts bucket: BlazingText job output
MODELS_PREFIX = "models/"  # artifacts bucket: classifier job output
DATA_CAPTURE_PREFIX = "datacapture/"  # artifacts bucket: endpoint data capture
BATCH_INPUT_PREFIX = "batch/input/"  # artifacts bucket: what `headlines batch` scores
BATCH_OUTPUT_PREFIX = "batch/output/"  # artifacts bucket: its transform jobs' answers


@dataclass(frozen=True)
class StorageProps:
    resource_prefix: str  # the key's alias and description
    retention: Retention = Retention()  # retained data also keeps its logs and old versions longer


ABORT_INCOMPLETE_UPLOADS = s3.LifecycleRule(
    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
)


def secure_bucket_options(retention: Retention) -> Dict[str, Any]:
    """What every bucket of the project has: no public access, TLS 1.2+ only, owner-enforced."""
    return dict(
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=retention.removal,
        auto_delete_objects=not retention.retains_data,
    )


def kms_bucket_options(key: kms.IKey, access_logs: s3.IBucket, log_prefix: str) -> Dict[str, Any]:
    """SSE-KMS with the project key (S3 bucket keys keep KMS request costs down), access-logged."""
    return dict(
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
    )


class Storage(Construct):
    """The project's key and buckets."""

    def __init__(self, scope: Construct, construct_id: str, *, props: StorageProps) -> None:
        super().__init__(scope, construct_id)
        retention = props.retention
        keeps = retention.retains_data  # a retained stage also keeps logs and old versions longer
        self.key = kms.Key(
            self,
            "Key",
            description=f"{props.resource_prefix}: data, artifacts, notebook volume, training volumes, alerts",
            alias=f"alias/{props.resource_prefix}",
            enable_key_rotation=True,
            pending_window=Duration.days(30 if keeps else 7),
            removal_policy=retention.removal,
        )
        common = secure_bucket_options(retention)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365 if keeps else 30)),
                ABORT_INCOMPLETE_UPLOADS,
            ],
            **common,
        )
        nag.suppress(
            self.access_logs,
            ("AwsSolutions-S1", "This is the server-access-log destination of the other buckets; logging it into itself would loop."),
        )
        self.data = s3.Bucket(
            self,
            "Data",
            lifecycle_rules=[
                ABORT_INCOMPLETE_UPLOADS,
                s3.LifecycleRule(id="expire-scratch", prefix=SCRATCH_PREFIX, expiration=Duration.days(30)),
            ],
            **kms_bucket_options(self.key, self.access_logs, "data/"),
            **common,
        )
        self.artifacts = s3.Bucket(
            self,
            "Artifacts",
            versioned=True,
            lifecycle_rules=[
                ABORT_INCOMPLETE_UPLOADS,
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(90 if keeps else 30),
                    noncurrent_versions_to_retain=3,
                ),
                s3.LifecycleRule(
                    id="expire-data-capture", prefix=DATA_CAPTURE_PREFIX, expiration=Duration.days(90 if keeps else 30)
                ),
            ],
            **kms_bucket_options(self.key, self.access_logs, "artifacts/"),
            **common,
        )
