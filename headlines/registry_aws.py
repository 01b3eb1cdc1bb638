"""The AWS registry backend: the stage's SageMaker model package group, through boto3.

A record is a model package version: its status is ``ModelApprovalStatus``, its model data the
InferenceSpecification's container, its lineage and gate figures the
``CustomerMetadataProperties`` the pipeline wrote (headlines/registry.py names the keys).
``approved_at`` is a metadata key too (written on every approval from here); a package
approved in SageMaker's console has none, and its ``LastModifiedTime`` stands for it.
Serving follows through the EventBridge rule on "SageMaker Model Package State Change"
(infra/registry.py), which writes the serving pointer the serving stack deploys.
"""
from __future__ import annotations

import datetime
import os
from typing import Any, Callable, Dict, List, Optional

from headlines.config import HeadlinesConfig
from headlines.naming import (
    OUTPUT_MODEL_PACKAGE_GROUP,
    model_package_group_name,
    pipeline_stack_name,
    serving_model_parameter,
    serving_stack_name,
)
from headlines.registry import APPROVED, ModelRecord, RegistryError

#: Metrics the pipeline copies into the metadata (SageMaker keeps ModelMetrics as S3 URIs only).
METRIC_METADATA = {"accuracy": "test_accuracy", "macro_f1": "test_macro_f1"}


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime.datetime):
        return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(moment or "")


def record_of(package: Dict[str, Any]) -> ModelRecord:
    """A DescribeModelPackage answer as a registry record."""
    metadata = dict(package.get("CustomerMetadataProperties") or {})
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
    status = package.get("ModelApprovalStatus", "")
    approved_at = metadata.get("approved_at", "none")
    if approved_at == "none":  # approved in SageMaker's console, or never
        approved_at = _iso(package.get("LastModifiedTime")) if status == APPROVED else None
    metrics = {}
    for key, name in METRIC_METADATA.items():
        try:
            metrics[key] = float(metadata[name])
        except (KeyError, ValueError):
            pass
    return ModelRecord(
        version=metadata.get("model_version") or str(package.get("ModelPackageVersion", "?")),
        status=status, model_data_url=containers[0].get("ModelDataUrl", ""),
        registered_at=_iso(package.get("CreationTime")), metrics=metrics, metadata=metadata,
        approved_at=approved_at, description=package.get("ApprovalDescription") or "",
        package=package.get("ModelPackageArn", ""))


class AwsRegistry:
    def __init__(self, sagemaker: Any, group: str, serving_parameter: str, serving_stack: str) -> None:
        self.sagemaker = sagemaker
        self.group = group
        self.where = f"model package group {group}"
        self.serving_parameter = serving_parameter
        self.serving_stack = serving_stack

    @classmethod
    def for_config(cls, cfg: HeadlinesConfig, region: Optional[str] = None) -> "AwsRegistry":
        """The deployed stage's registry: its group is named by the pipeline stack's output."""
        import boto3

        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise RegistryError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
        session = boto3.session.Session(region_name=region)
        registry = cls(session.client("sagemaker"), model_package_group_name(cfg), serving_model_parameter(cfg),
                       serving_stack_name(cfg))
        stack = pipeline_stack_name(cfg)
        answer = registry._call(f"reading stack {stack} (is it deployed in {region}?)",
                                session.client("cloudformation").describe_stacks, StackName=stack)
        outputs = {item["OutputKey"]: item["OutputValue"] for item in (answer["Stacks"][0].get("Outputs") or [])}
        if OUTPUT_MODEL_PACKAGE_GROUP not in outputs:
            raise RegistryError(f"stack {stack} has no {OUTPUT_MODEL_PACKAGE_GROUP} output: deploy it again "
                                f"(npx cdk deploy {stack}) to create the model registry")
        registry.group = outputs[OUTPUT_MODEL_PACKAGE_GROUP]
        registry.where = f"model package group {registry.group}"
        return registry

    def _call(self, doing: str, fn: Callable[..., Dict[str, Any]], **kwargs: Any) -> Dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return fn(**kwargs)
        except NoCredentialsError:
            raise RegistryError(f"no AWS credentials found while {doing}: configure them (aws configure, AWS_PROFILE, ...)") from None
        except ClientError as error:
            detail = error.response.get("Error", {})
            message = detail.get("Message", "")
            if "does not exist" in message or "not found" in message.lower():
                raise RegistryError(f"{doing}: {message} (is the pipeline stack deployed in this region?)") from None
            raise RegistryError(f"{doing}: {detail.get('Code', 'Error')}: {message}".rstrip()) from None
        except BotoCoreError as error:
            raise RegistryError(f"{doing}: {error}") from None

    def records(self) -> List[ModelRecord]:
        self._call(f"reading {self.where}", self.sagemaker.describe_model_package_group, ModelPackageGroupName=self.group)
        arns: List[str] = []
        token: Optional[str] = None
        while True:
            page = self._call(f"listing {self.where}", self.sagemaker.list_model_packages,
                              ModelPackageGroupName=self.group, SortBy="CreationTime", SortOrder="Ascending",
                              **({"NextToken": token} if token else {}))
            arns += [summary["ModelPackageArn"] for summary in page.get("ModelPackageSummaryList", [])]
            token = page.get("NextToken")
            if not token:
                break
        return [record_of(self._call(f"describing {arn}", self.sagemaker.describe_model_package, ModelPackageName=arn))
                for arn in arns]

    def register(self, record: ModelRecord) -> ModelRecord:
        raise RegistryError(f"models reach {self.where} through the pipeline (headlines pipeline start), not by hand")

    def update(self, record: ModelRecord) -> None:
        metadata = dict(record.metadata)
        if record.approved_at:
            metadata["approved_at"] = record.approved_at
        # The whole map: SageMaker merges it; moto replaces it.
        self._call(f"updating {record.package}", self.sagemaker.update_model_package, ModelPackageArn=record.package,
                   ModelApprovalStatus=record.status, ApprovalDescription=record.description[:1024],
                   CustomerMetadataProperties=metadata)

    def serving_changed(self, record: Optional[ModelRecord]) -> str:
        if record is None:
            return f"no approved model is left in {self.where}"
        return (f"the approval rule points {self.serving_parameter} at model {record.version}: "
                f"deploy it with npx cdk deploy {self.serving_stack}")

