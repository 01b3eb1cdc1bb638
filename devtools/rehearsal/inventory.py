"""The account's inventory: every kind of resource the app could leave behind, listed."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Set

from devtools.rehearsal.aws import EmulatorClients, pages
from devtools.rehearsal.basics import RehearsalError, short


def _live_kms_keys(aws: EmulatorClients) -> List[str]:
    keys = []
    for key in pages(aws.kms, "list_keys", "Keys"):
        try:
            state = aws.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"].get("KeyState")
        except Exception:  # noqa: BLE001 - moto fails to describe keys CloudFormation made: count it
            state = "unknown"
        if state not in ("PendingDeletion", "Disabled"):
            keys.append(key["KeyId"])
    return keys


INVENTORY: Dict[str, Callable[[EmulatorClients], Iterable[str]]] = {
    "cloudformation stack": lambda a: [s["StackName"] for s in pages(a.cloudformation, "list_stacks", "StackSummaries")
                                       if s["StackStatus"] != "DELETE_COMPLETE"],
    "s3 bucket": lambda a: [b["Name"] for b in a.s3.list_buckets()["Buckets"]],
    "iam role": lambda a: [r["RoleName"] for r in pages(a.iam, "list_roles", "Roles")],
    "iam managed policy": lambda a: [p["PolicyName"] for p in pages(a.iam, "list_policies", "Policies", Scope="Local")],
    "lambda function": lambda a: [f["FunctionName"] for f in pages(a.lambda_, "list_functions", "Functions")],
    "lambda layer": lambda a: [layer["LayerName"] for layer in pages(a.lambda_, "list_layers", "Layers")],
    "state machine": lambda a: [m["stateMachineArn"] for m in pages(a.stepfunctions, "list_state_machines", "stateMachines")],
    "sagemaker model": lambda a: [m["ModelName"] for m in pages(a.sagemaker, "list_models", "Models")],
    "sagemaker endpoint config": lambda a: [c["EndpointConfigName"] for c in
                                            pages(a.sagemaker, "list_endpoint_configs", "EndpointConfigs")],
    "sagemaker endpoint": lambda a: [e["EndpointName"] for e in pages(a.sagemaker, "list_endpoints", "Endpoints")],
    "sagemaker notebook instance": lambda a: [n["NotebookInstanceName"] for n in
                                              pages(a.sagemaker, "list_notebook_instances", "NotebookInstances")],
    "sagemaker model package group": lambda a: [g["ModelPackageGroupName"] for g in
                                                pages(a.sagemaker, "list_model_package_groups", "ModelPackageGroupSummaryList")],
    "api gateway rest api": lambda a: [x["id"] for x in pages(a.apigateway, "get_rest_apis", "items")],
    "api gateway usage plan": lambda a: [x["id"] for x in pages(a.apigateway, "get_usage_plans", "items")],
    "api gateway api key": lambda a: [x["id"] for x in pages(a.apigateway, "get_api_keys", "items")],
    "sns topic": lambda a: [t["TopicArn"] for t in pages(a.sns, "list_topics", "Topics")],
    "sqs queue": lambda a: a.sqs.list_queues().get("QueueUrls", []),
    "log group": lambda a: [g["logGroupName"] for g in pages(a.logs, "describe_log_groups", "logGroups")],
    "ssm parameter": lambda a: [p["Name"] for p in pages(a.ssm, "describe_parameters", "Parameters")],
    "kms key": _live_kms_keys,
    "kms alias": lambda a: [x["AliasName"] for x in pages(a.kms, "list_aliases", "Aliases")
                            if not x["AliasName"].startswith("alias/aws/")],
    "cloudwatch alarm": lambda a: [m["AlarmName"] for m in pages(a.cloudwatch, "describe_alarms", "MetricAlarms")],
    "eventbridge rule": lambda a: [r["Name"] for r in a.events.list_rules().get("Rules", [])],
    "autoscaling target": lambda a: [t["ResourceId"] for t in pages(
        a.application_autoscaling, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="sagemaker")],
    "autoscaling policy": lambda a: [p["PolicyName"] for p in pages(
        a.application_autoscaling, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="sagemaker")],
}
# What each inventory kind is called in CloudFormation (to tie a leftover to its template resource).
INVENTORY_TYPES = {
    "s3 bucket": "AWS::S3::Bucket", "iam role": "AWS::IAM::Role", "iam managed policy": "AWS::IAM::ManagedPolicy",
    "lambda function": "AWS::Lambda::Function", "lambda layer": "AWS::Lambda::LayerVersion",
    "state machine": "AWS::StepFunctions::StateMachine", "sagemaker model": "AWS::SageMaker::Model",
    "sagemaker endpoint config": "AWS::SageMaker::EndpointConfig", "sagemaker endpoint": "AWS::SageMaker::Endpoint",
    "sagemaker notebook instance": "AWS::SageMaker::NotebookInstance",
    "sagemaker model package group": "AWS::SageMaker::ModelPackageGroup",
    "api gateway rest api": "AWS::ApiGateway::RestApi", "api gateway usage plan": "AWS::ApiGateway::UsagePlan",
    "api gateway api key": "AWS::ApiGateway::ApiKey", "sns topic": "AWS::SNS::Topic", "sqs queue": "AWS::SQS::Queue",
    "log group": "AWS::Logs::LogGroup", "ssm parameter": "AWS::SSM::Parameter", "kms key": "AWS::KMS::Key", "kms alias": "AWS::KMS::Alias",
    "cloudwatch alarm": "AWS::CloudWatch::Alarm", "eventbridge rule": "AWS::Events::Rule",
    "autoscaling target": "AWS::ApplicationAutoScaling::ScalableTarget",
    "autoscaling policy": "AWS::ApplicationAutoScaling::ScalingPolicy",
}


Inventory = Dict[str, Set[str]]


def take_inventory(aws: EmulatorClients) -> Inventory:
    inventory: Inventory = {}
    for kind, lister in INVENTORY.items():
        try:
            inventory[kind] = set(lister(aws))
        except Exception as error:
            raise RehearsalError(f"could not list {kind}s: {short(error)}") from error
    return inventory
