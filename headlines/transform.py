"""The batch contract both bulk paths follow: ``headlines classify --input`` (the local container)
and ``headlines batch`` (a SageMaker Batch Transform job on the approved model).

The model container answers a batch of headlines in one request (``inference/inference.py``).
Its per-request limit, ``HEADLINES_MAX_BATCH``, is the API's (100); a transform job overrides it
through its ``Environment``, as the local bulk scorer does, because a multi-record mini-batch
of ``MaxPayloadInMB`` holds far more lines than that.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

#: What a Batch Transform job sends: the input split into lines, many lines per request.
INPUT_CONTENT_TYPE = "text/plain"
#: What it asks for: one JSON object per headline and line, so that AssembleWith=Line keeps one
#: output line per input line.
OUTPUT_ACCEPT = "application/jsonlines"
#: The local scorer's request size: large enough that a request's overhead is small.
LOCAL_BATCH_SIZE = 1000
#: How long a mini-batch may take: the transform's InvocationsTimeoutInSeconds (its default) and
#: the model server's answer timeout, which is 60 s unless raised (the serving toolkit's
#: SAGEMAKER_MODEL_SERVER_TIMEOUT); a mini-batch of MaxPayloadInMB is far more than a request.
INVOCATION_TIMEOUT_SECONDS = 600


def max_records(max_payload_mb: int) -> int:
    """The most headlines one mini-batch of ``max_payload_mb`` can hold (a line is at least a
    character and its newline)."""
    return max_payload_mb * 1024 * 1024 // 2


def container_environment(max_batch: int, max_payload_mb: Optional[int] = None) -> Dict[str, str]:
    """The transform's ``Environment``: the Model's variables it overrides. ``max_payload_mb``
    also raises Multi Model Server's request limit (about 6 MB by default) through the serving
    toolkit's ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, so that a full mini-batch is never refused."""
    environment = {"HEADLINES_MAX_BATCH": str(max_batch)}
    if max_payload_mb is not None:
        environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(max_payload_mb)
        environment["SAGEMAKER_MODEL_SERVER_TIMEOUT"] = str(INVOCATION_TIMEOUT_SECONDS)
    return environment


def create_transform_job_request(*, job_name: str, model_name: str, input_uri: str, output_uri: str, instance_type: str,
                                 instance_count: int, max_payload_mb: int, max_concurrent: int,
                                 volume_kms_key: Optional[str]) -> Dict[str, Any]:
    """CreateTransformJob's parameters (checked against botocore's service model in the tests)."""
    resources: Dict[str, Any] = {"InstanceType": instance_type, "InstanceCount": instance_count}
    if volume_kms_key:
        resources["VolumeKmsKeyId"] = volume_kms_key
    return {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "MaxConcurrentTransforms": max_concurrent,
        "MaxPayloadInMB": max_payload_mb,
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": INVOCATION_TIMEOUT_SECONDS, "InvocationsMaxRetries": 1},
        "BatchStrategy": "MultiRecord",
        "Environment": container_environment(max_records(max_payload_mb), max_payload_mb),
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": INPUT_CONTENT_TYPE,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": OUTPUT_ACCEPT, "AssembleWith": "Line"},
        "TransformResources": resources,
    }
