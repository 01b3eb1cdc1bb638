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

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from headlines.config import HeadlinesConfig
from infra import nag
from headlines.naming import resource_prefix

# Key prefixes inside the buckets (the IAM policies are scoped to them).
RAW_PREFIX = "raw/"  # data bucket: ingested datasets
SCRATCH_PREFIX = "scratch/"  # data bucket: notebook experiments, expire after 30 days
EMBEDDINGS_PREFIX = "embeddings/"  # artifacts bucket: BlazingText job output
MODELS_PREFIX = "models/"  # artifacts bucket: classifier job output
DATA_CAPTURE_PREFIX = "datacapture/"  # artifacts bucket: endpoint data capture


def removal_policy(cfg: HeadlinesConfig) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if cfg.retain_data else RemovalPolicy.DESTROY


class Storage(Construct):
    """The project's key and buckets."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: HeadlinesConfig) -> None:
        super().__init__(scope, construct_id)
        removal = removal_policy(cfg)
        auto_delete = not cfg.retain_data
        prod = cfg.stage == "prod"

        self.key = kms.Key(
            self,
            "Key",
            description=f"{resource_prefix(cfg)}: data, artifacts, notebook volume, training volumes, alerts",
            alias=f"alias/{resource_prefix(cfg)}",
            enable_key_rotation=True,
            pending_window=Duration.days(7 if not prod else 30),
            removal_policy=removal,
        )

        common = dict(
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
            auto_delete_objects=auto_delete,
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365 if prod else 30)),
                s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
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
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
                s3.LifecycleRule(id="expire-scratch", prefix=SCRATCH_PREFIX, expiration=Duration.days(30)),
            ],
            **common,
        )

        self.artifacts = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(90 if prod else 30),
                    noncurrent_versions_to_retain=3,
                ),
                s3.LifecycleRule(
                    id="expire-data-capture", prefix=DATA_CAPTURE_PREFIX, expiration=Duration.days(90 if prod else 30)
                ),
            ],
            **common,
        )
