"""Pipeline step 1: the ingest Lambda and the Task state that invokes it.

The function streams the public datasets (or user-given S3 copies) into ``raw/`` of the data
bucket and skips objects already there (functions/ingest/ingest.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import nag
from infra.functions import PythonFunction, PythonFunctionProps
from infra.retention import Retention
from infra.storage import RAW_PREFIX
from infra.task_retries import LAMBDA_TRANSIENT_ERRORS, backoff_retry

NEWS_KEY = RAW_PREFIX + "news/NewsAggregatorDataset.zip"
CORPUS_KEY = RAW_PREFIX + "corpus/text8.zip"
NEWS_PREFIX = RAW_PREFIX + "news/"


@dataclass(frozen=True)
class DatasetSource:
    """One dataset the ingest function fetches: from the first of ``urls`` that gives it, or
    from ``s3_uri`` when given."""

    name: str
    urls: Tuple[str, ...]  # the current address first, older ones as fallbacks
    key: str  # where it lands in the data bucket
    s3_uri: Optional[str] = None
    sha256: Optional[str] = None  # checked when given
    expected_members: Mapping[str, int] = field(default_factory=dict)  # {file in the zip: bytes}


@dataclass(frozen=True)
class IngestStepProps:
    service_name: str  # POWERTOOLS_SERVICE_NAME
    sources: Sequence[DatasetSource]
    retention: Retention = Retention()


def ingest_event(sources: Sequence[DatasetSource], bucket_name: str) -> Dict[str, Any]:
    """The ingest Lambda's event (its contract with functions/ingest/ingest.py)."""
    return {
        "bucket": bucket_name,
        "sources": [
            {"name": s.name, "url": s.urls[0], "urls": list(s.urls), "source_s3_uri": s.s3_uri, "key": s.key,
             "sha256": s.sha256, "expected_members": dict(s.expected_members)}
            for s in sources
        ],
    }


def s3_object_arn(stack: Stack, uri: str) -> str:
    return f"arn:{stack.partition}:s3:::{uri[len('s3://'):]}"


class IngestStep(PythonFunction):
    """The ingest function (its role may write ``raw/`` only) and ``self.task``, which invokes it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, props: IngestStepProps, data: s3.IBucket, key: kms.IKey
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            props=PythonFunctionProps(
                folder="ingest",
                handler="ingest.handler",
                description="Streams the public datasets into the data bucket (idempotent)",
                environment={
                    "DATA_BUCKET": data.bucket_name,
                    "POWERTOOLS_SERVICE_NAME": props.service_name,
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
                timeout=Duration.minutes(15),
                memory_mb=1024,
                ephemeral_mb=2048,
                retention=props.retention,
            ),
        )
        for statement in _ingest_statements(Stack.of(self), props.sources, data, key):
            self.role.add_to_principal_policy(statement)
        self.task = tasks.LambdaInvoke(
            self,
            "Ingest datasets",
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(ingest_event(props.sources, data.bucket_name)),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_selector={"objects.$": "$.objects", "checksums.$": "$.checksums"},
            result_path="$.ingest",
            task_timeout=sfn.Timeout.duration(Duration.minutes(16)),
            comment="Fetch text8 and the News Aggregator zip into the data bucket (skips objects already there)",
        )
        self.task.add_retry(
            **backoff_retry([*LAMBDA_TRANSIENT_ERRORS, "Lambda.ClientExecutionTimeoutException"], interval_s=2, attempts=6)
        )
        nag.allow_wildcards(
            self, (nag.objects_under("StorageData", RAW_PREFIX), "The ingest function writes the datasets under raw/ only.")
        )


def _ingest_statements(
    stack: Stack, sources: Sequence[DatasetSource], data: s3.IBucket, key: kms.IKey
) -> Sequence[iam.PolicyStatement]:
    statements = [
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[data.arn_for_objects(RAW_PREFIX + "*")],
        ),
        # ingest.py asks HeadObject whether a dataset is already there. S3 answers 404 for a
        # missing key only to a caller with s3:ListBucket on the bucket (403 otherwise), and a
        # HeadObject carries no s3:prefix, so a prefix-conditioned ListBucket would not apply.
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[data.bucket_arn]),
        iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]),
    ]
    copies = [source.s3_uri for source in sources if source.s3_uri]
    if copies:  # user-given S3 copies of the datasets: read exactly those objects
        statements.append(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[s3_object_arn(stack, uri) for uri in copies])
        )
    return statements
