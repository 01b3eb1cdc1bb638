"""Model approval: points serving at the approved model when a model package's status changes.

The target of the EventBridge rule on "SageMaker Model Package State Change" for the stage's
model package group (infra/registry.py): an approval or rejection from ``headlines model``,
from SageMaker's console or from the pipeline. Whatever the event says, the function reads
the group again (events may come more than once and out of order) and writes the serving
pointer ``<model_version> <model_data_url>`` of the approved package approved last (its
``approved_at`` metadata, else its LastModifiedTime: the rule of headlines/registry.py) and
its approval record; the next ``npx cdk deploy`` of the serving stack deploys it. With no
approved package left, the pointer is left as it is (the serving stack keeps the last model).

Standard library and boto3 only: that is what the Lambda runtime provides.
"""
import datetime
import json
import os
from typing import Any, Dict, List, Optional

APPROVED = "Approved"


def _time(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value or "")


def approval_time(package: Dict[str, Any]) -> str:
    approved_at = (package.get("CustomerMetadataProperties") or {}).get("approved_at", "none")
    return _time(package.get("LastModifiedTime")) if approved_at == "none" else approved_at


def approved_packages(sagemaker: Any, group: str) -> List[Dict[str, Any]]:
    arns: List[str] = []
    kwargs: Dict[str, Any] = {"ModelPackageGroupName": group, "ModelApprovalStatus": APPROVED}
    while True:
        page = sagemaker.list_model_packages(**kwargs)
        arns += [item["ModelPackageArn"] for item in page.get("ModelPackageSummaryList", [])]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return [sagemaker.describe_model_package(ModelPackageName=arn) for arn in arns]


def serving_package(packages: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    approved = [package for package in packages if package.get("ModelApprovalStatus") == APPROVED]
    return max(approved, key=approval_time) if approved else None


def pointer_of(package: Dict[str, Any]) -> str:
    version = (package.get("CustomerMetadataProperties") or {}).get("model_version", "")
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    if not version:
        raise ValueError("{} has no model_version metadata".format(package.get("ModelPackageArn")))
    return "{} {}".format(version, url)


def handler(event, context, sagemaker=None, ssm=None):
    group = os.environ["MODEL_PACKAGE_GROUP"]
    detail = event.get("detail") or {}
    if detail.get("ModelPackageGroupName", group) != group:  # the rule filters on it; be sure
        return {"changed": False, "reason": "another group"}
    if sagemaker is None or ssm is None:
        import boto3

        sagemaker, ssm = sagemaker or boto3.client("sagemaker"), ssm or boto3.client("ssm")
    package = serving_package(approved_packages(sagemaker, group))
    if package is None:
        print(json.dumps({"message": "no approved model package: the serving pointer is kept", "group": group}))
        return {"changed": False, "reason": "no approved package"}
    pointer = pointer_of(package)
    metadata = package.get("CustomerMetadataProperties") or {}
    record = {"model_version": metadata.get("model_version"), "model_data_url": pointer.split(" ", 1)[1],
              "model_package_arn": package.get("ModelPackageArn"), "approved_at": approval_time(package),
              "execution_id": metadata.get("execution"), "training_job_name": metadata.get("training_job"),
              "embeddings_job_name": metadata.get("embeddings_job"), "gate": {
                  key: metadata[key] for key in ("gate_metric", "gate_value", "champion_version", "champion_value",
                                                 "gate_tolerance", "test_rows", "test_rows_sha256", "verdict")
                  if key in metadata}}
    ssm.put_parameter(Name=os.environ["SERVING_PARAMETER"], Value=pointer, Type="String", Overwrite=True)
    ssm.put_parameter(Name=os.environ["APPROVAL_PARAMETER"], Value=json.dumps(record), Type="String", Overwrite=True)
    print(json.dumps({"message": "serving pointer written", "pointer": pointer, "event": detail.get("ModelApprovalStatus")}))
    return {"changed": True, "pointer": pointer}
