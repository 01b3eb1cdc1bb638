"""The model registry in the rehearsal: a model is registered, approved through the command line,
and rolled back, against the emulator.

The pipeline registers a model with ``sagemaker:CreateModelPackage`` (its request shape:
infra/registry.py, checked against botocore in tests/infra); here the rehearsal registers the
placeholder artifact as ``PendingManualApproval`` in the group the pipeline stack's output names,
then runs ``headlines model approve VERSION --aws`` (and later ``rollback``) as a user would.
Two stand-ins, both emulator gaps: moto's CloudFormation does not create
``AWS::SageMaker::ModelPackageGroup`` (the rehearsal creates the group under the output's name),
and moto's EventBridge does not deliver the package's state change to the approval function
(the rehearsal calls that function's handler, unchanged, with the event's documented shape and
the emulator's clients).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

from devtools import CHECKOUT
from devtools.rehearsal.aws import EmulatorClients, aws_env
from devtools.rehearsal.basics import RehearsalError, clip
from headlines.config import HeadlinesConfig
from headlines.naming import (
    OUTPUT_MODEL_PACKAGE_GROUP,
    approved_model_parameter,
    pipeline_stack_name,
    serving_model_parameter,
)
from headlines.registry import PENDING

STATE_CHANGE = "SageMaker Model Package State Change"


def group_name(aws: EmulatorClients, cfg: HeadlinesConfig) -> str:
    """The group the pipeline stack's output names; created here when moto's CloudFormation skipped it."""
    stack = aws.cloudformation.describe_stacks(StackName=pipeline_stack_name(cfg))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if OUTPUT_MODEL_PACKAGE_GROUP not in outputs:
        raise RehearsalError(f"{pipeline_stack_name(cfg)} has no {OUTPUT_MODEL_PACKAGE_GROUP} output")
    name = outputs[OUTPUT_MODEL_PACKAGE_GROUP]
    groups = [g["ModelPackageGroupName"] for g in aws.sagemaker.list_model_package_groups().get("ModelPackageGroupSummaryList", [])]
    if name not in groups:
        aws.sagemaker.create_model_package_group(ModelPackageGroupName=name)
    return name


def register(aws: EmulatorClients, group: str, version: str, url: str, image: str) -> str:
    """The model as the pipeline's Register model step would (for a stage with manual approval)."""
    metadata = {"model_version": version, "execution": "rehearsal", "training_job": "rehearsal", "verdict": "promote",
                "approved_at": "none"}
    return aws.sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus=PENDING, ModelPackageDescription=f"model {version} (rehearsal)",
        InferenceSpecification={"Containers": [{"Image": image, "ModelDataUrl": url}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties=metadata)["ModelPackageArn"]


def headlines_model(endpoint_url: str, workdir: Path, stage: str, *args: str) -> str:
    """``headlines model ARGS --aws --stage STAGE`` against the emulator; its output."""
    command = [sys.executable, "-m", "headlines.cli", "model", *args, "--aws", "--stage", stage]
    done = subprocess.run(command, cwd=CHECKOUT, env=aws_env(endpoint_url, workdir), capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RehearsalError(f"headlines model {' '.join(args)} --aws failed ({done.returncode})",
                             [clip(line) for line in done.stderr.splitlines()[-3:]])
    return done.stdout


@contextlib.contextmanager
def _environment(values: Dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def deliver(aws: EmulatorClients, cfg: HeadlinesConfig, group: str, arn: str, status: str) -> Dict[str, Any]:
    """The state-change event to the approval function's handler (EventBridge's delivery, stood in)."""
    from headlines.file_modules import load_lambda

    approval = load_lambda("model_approval", "model_approval")
    event = {"version": "0", "source": "aws.sagemaker", "detail-type": STATE_CHANGE, "resources": [arn],
             "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn, "ModelApprovalStatus": status}}
    with _environment({"MODEL_PACKAGE_GROUP": group, "SERVING_PARAMETER": serving_model_parameter(cfg),
                       "APPROVAL_PARAMETER": approved_model_parameter(cfg)}):
        return approval.handler(event, None, aws.sagemaker, aws.ssm)


def pointer(aws: EmulatorClients, cfg: HeadlinesConfig) -> str:
    return aws.ssm.get_parameter(Name=serving_model_parameter(cfg))["Parameter"]["Value"]


def package_statuses(aws: EmulatorClients, group: str) -> List[str]:
    summaries = aws.sagemaker.list_model_packages(ModelPackageGroupName=group).get("ModelPackageSummaryList", [])
    return [s.get("ModelApprovalStatus", "?") for s in summaries]
