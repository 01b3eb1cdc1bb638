"""``headlines batch --input s3://... --output s3://...``: a SageMaker Batch Transform job on the
approved model, followed to its end like ``headlines pipeline start --wait``.

The approved model is the serving pointer (SSM ``/<project>/<stage>/model/serving``); the job runs
on the SageMaker Model the serving stack deployed from it (its ``ModelName`` output), so that
the answers are the endpoint's. When the pointer names another version than the one deployed, the
command says to deploy first instead of scoring with a model that is not the approved one.

The job runs as the Model's execution role, which reads ``s3://<artifacts>/batch/input/`` and
writes ``s3://<artifacts>/batch/output/`` only (infra/serving_model.py): other locations are
refused here with one line, before a job that would fail on AccessDenied minutes later. Instance
type and count, MaxPayloadInMB and MaxConcurrentTransforms come from cdk.json (``headlines.batch``);
the request is ``headlines.transform.create_transform_job_request``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, Optional, TextIO, Tuple

from headlines.cli.pipeline import DEFAULT_POLL_SECONDS, Clients, _aws_error, _call, poll_until
from headlines.config import HeadlinesConfig
from headlines.naming import (
    NO_MODEL,
    OUTPUT_MODEL_NAME,
    OUTPUT_MODEL_VERSION,
    pipeline_stack_name,
    serving_model_parameter,
    serving_stack_name,
    transform_job_prefix,
)

TERMINAL = ("Completed", "Failed", "Stopped")
BATCH_INPUT_PREFIX = "batch/input/"  # infra/storage.py's (headlines never imports infra)
BATCH_OUTPUT_PREFIX = "batch/output/"


def parse_s3_uri(uri: str, what: str) -> Tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or not uri[5:].split("/", 1)[0]:
        raise SystemExit(f"error: --{what} {uri!r} is not an S3 URI: use s3://BUCKET/KEY")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _stack_outputs(clients: Clients, stack: str) -> Dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = clients.cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            raise SystemExit(f"error: stack {stack} is not deployed in this account/region: deploy it first with "
                             f"`npx cdk deploy {stack}`") from None
        raise _aws_error(exc, f"reading stack {stack}") from None
    except BotoCoreError as exc:
        raise _aws_error(exc, f"reading stack {stack}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}


def approved_model(clients: Clients, cfg: HeadlinesConfig) -> Tuple[str, str]:
    """``(model version, SageMaker Model name)`` of the approved, deployed model; else one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = serving_model_parameter(cfg)
    try:
        value = clients.ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise SystemExit(f"error: no approved model: {name} does not exist (deploy the pipeline stack "
                             f"{pipeline_stack_name(cfg)} and run `headlines pipeline start --wait`)") from None
        raise _aws_error(exc, f"reading {name}") from None
    except BotoCoreError as exc:  # no credentials, no region, ...
        raise _aws_error(exc, f"reading {name}") from None
    version = value.split(" ", 1)[0]
    if version == NO_MODEL:
        raise SystemExit("error: no approved model yet: run the pipeline (`headlines pipeline start --wait`), "
                         f"then `npx cdk deploy {serving_stack_name(cfg)}`")
    stack = serving_stack_name(cfg)
    outputs = _stack_outputs(clients, stack)
    deployed, model_name = outputs.get(OUTPUT_MODEL_VERSION), outputs.get(OUTPUT_MODEL_NAME)
    if not model_name:
        raise SystemExit(f"error: stack {stack} has no {OUTPUT_MODEL_NAME} output: deploy it again with "
                         f"`npx cdk deploy {stack}`")
    if deployed != version:
        raise SystemExit(f"error: the approved model {version} is not deployed (the endpoint serves {deployed}): "
                         f"run `npx cdk deploy {stack}` first")
    return version, model_name


def check_locations(clients: Clients, cfg: HeadlinesConfig, input_uri: str, output_uri: str) -> None:
    in_bucket, in_key = parse_s3_uri(input_uri, "input")
    out_bucket, out_key = parse_s3_uri(output_uri, "output")
    artifacts = _stack_outputs(clients, pipeline_stack_name(cfg)).get("ArtifactsBucketName", "")
    for uri, bucket, key, prefix, what in ((input_uri, in_bucket, in_key, BATCH_INPUT_PREFIX, "input"),
                                           (output_uri, out_bucket, out_key, BATCH_OUTPUT_PREFIX, "output")):
        if bucket != artifacts or not key.startswith(prefix):
            raise SystemExit(f"error: --{what} {uri}: the model's role reaches s3://{artifacts}/{prefix} only: "
                             f"put it there (e.g. aws s3 cp FILE s3://{artifacts}/{BATCH_INPUT_PREFIX}NAME)"
                             if what == "input" else
                             f"error: --{what} {uri}: the model's role writes under s3://{artifacts}/{prefix} only")
    listed = _call(f"listing {input_uri}", clients.s3.list_objects_v2, Bucket=in_bucket, Prefix=in_key, MaxKeys=1)
    if not listed.get("KeyCount"):
        raise SystemExit(f"error: --input {input_uri}: no such object or prefix")


class TransformFollower:
    """Prints a transform job's status changes, one poll at a time."""

    def __init__(self, clients: Clients, job_name: str, out: TextIO):
        self.clients, self.job_name, self.out = clients, job_name, out
        self.last: Optional[str] = None

    def poll(self) -> Dict[str, Any]:
        job = _call(f"describing transform job {self.job_name}", self.clients.sagemaker.describe_transform_job,
                    TransformJobName=self.job_name)
        if job["TransformJobStatus"] != self.last:
            self.last = job["TransformJobStatus"]
            print(f"   {self.job_name}: {self.last}", file=self.out, flush=True)
        return job


def run(clients: Clients, cfg: HeadlinesConfig, input_uri: str, output_uri: str, wait: bool = True,
        out: TextIO = sys.stdout, poll_seconds: float = DEFAULT_POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time) -> int:
    from headlines.instance_types import accepts_volume_kms_key
    from headlines.transform import create_transform_job_request

    parse_s3_uri(input_uri, "input")
    parse_s3_uri(output_uri, "output")
    version, model_name = approved_model(clients, cfg)
    check_locations(clients, cfg, input_uri, output_uri)
    batch = cfg.batch
    key = _stack_outputs(clients, pipeline_stack_name(cfg)).get("KeyArn") if accepts_volume_kms_key(batch.instance_type) else None
    job_name = f"{transform_job_prefix(cfg)}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now()))}"
    request = create_transform_job_request(
        job_name=job_name, model_name=model_name, input_uri=input_uri, output_uri=output_uri,
        instance_type=batch.instance_type, instance_count=batch.instance_count, max_payload_mb=batch.max_payload_mb,
        max_concurrent=batch.max_concurrent_transforms, volume_kms_key=key)
    _call("starting the transform job", clients.sagemaker.create_transform_job, **request)
    print(f"started transform job {job_name} on model {version} ({batch.instance_count} x {batch.instance_type})",
          file=out, flush=True)
    if not wait:
        print(f"follow it with: aws sagemaker describe-transform-job --transform-job-name {job_name}", file=out)
        return 0
    follower = TransformFollower(clients, job_name, out)
    job = poll_until(follower.poll, lambda state: state["TransformJobStatus"] in TERMINAL, poll_seconds, sleep)
    if job["TransformJobStatus"] != "Completed":
        reason = job.get("FailureReason") or "no reason given"
        raise SystemExit(f"error: transform job {job_name} {job['TransformJobStatus'].lower()}: {reason}")
    print(f"completed: answers under {output_uri.rstrip('/')}/ (one <input name>.out per input object, "
          "one JSON line per headline)", file=out)
    return 0


def _run(args: argparse.Namespace, console: Any = None) -> int:
    from headlines.config import load_config

    for uri, what in ((args.input, "input"), (args.output, "output")):
        parse_s3_uri(uri, what)
    clients = args.clients if getattr(args, "clients", None) else Clients.create(args.region)
    return run(clients, load_config(), args.input, args.output, wait=not args.no_wait, poll_seconds=args.poll_seconds)


def register(subparsers: Any) -> None:
    """Add ``batch`` to the ``headlines`` command line."""
    parser = subparsers.add_parser("batch", help="score a file in S3 with a SageMaker Batch Transform job on the approved model (AWS)")
    parser.add_argument("--input", required=True, metavar="S3_URI", help="s3://<artifacts bucket>/batch/input/...: "
                                                                        "one headline per line (an object or a prefix)")
    parser.add_argument("--output", required=True, metavar="S3_URI", help="s3://<artifacts bucket>/batch/output/...")
    parser.add_argument("--no-wait", action="store_true", help="start the job and return")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / your AWS config)")
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help=argparse.SUPPRESS)
    parser.set_defaults(run=_run, needs_console=False)
