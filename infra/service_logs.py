"""Log groups that AWS services create on their own, given a retention and a fate on destroy.

A service that writes logs creates its log group on first use, without a retention (kept
forever) and outside the stack (it survives ``cdk destroy``). Each such group of the stacks:

- ``/aws/sagemaker/Endpoints/<endpoint>``: one per endpoint name, fixed across deploys. An
  idempotent ``Custom::LogRetention`` (CDK's LogRetention: creates the group when missing, then
  sets the retention) before the endpoint; deleted with a dev stack, kept with a prod one (a
  plain ``AWS::Logs::LogGroup`` kept by a destroyed prod stack would make the next deploy fail
  with "already exists").
- ``/aws/sagemaker/TrainingJobs`` and ``/aws/sagemaker/NotebookInstances``: one per account and
  region, shared by every training job and notebook instance there. Given one retention for all
  stages (:data:`SHARED_LOG_RETENTION`, so a dev deploy never shortens a prod stage's logs) and
  always kept on destroy (other stacks' jobs write to it).
- ``API-Gateway-Execution-Logs_<api id>/<stage>``: new with each REST API, so a plain log group
  of the stack, created before the API stage that writes to it.
- Lambda functions that CDK adds for its own custom resources (the auto-delete of bucket
  objects, LogRetention itself) log to ``/aws/lambda/<function>``: :class:`FunctionLogGroups`
  points each at a log group of the stack (Lambda's ``LoggingConfig.LogGroup``).
"""
from __future__ import annotations

from typing import Optional

import jsii
from aws_cdk import CfnResource, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from infra import nag
from infra.retention import Retention

TRAINING_JOBS_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
NOTEBOOK_LOG_GROUP = "/aws/sagemaker/NotebookInstances"
#: The account-wide groups' retention, the same for every stage.
SHARED_LOG_RETENTION = logs.RetentionDays.ONE_YEAR


def endpoint_log_group(endpoint_name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


def api_execution_log_group(rest_api_id: str, stage_name: str) -> str:
    return f"API-Gateway-Execution-Logs_{rest_api_id}/{stage_name}"


def owned_service_log_group(scope: Construct, construct_id: str, name: str, retention: Retention) -> logs.LogRetention:
    """A service's log group that belongs to this stack (its name is fixed across deploys)."""
    group = logs.LogRetention(
        scope, construct_id, log_group_name=name, retention=retention.log_retention, removal_policy=retention.removal
    )
    _acknowledge_provider(Stack.of(scope))
    return group


def shared_service_log_group(scope: Construct, construct_id: str, name: str) -> logs.LogRetention:
    """A service's account-wide log group: a retention, never deleted by a stack."""
    group = logs.LogRetention(
        scope, construct_id, log_group_name=name, retention=SHARED_LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
    )
    _acknowledge_provider(Stack.of(scope))
    return group


def _acknowledge_provider(stack: Stack) -> None:
    """cdk-nag: the permissions CDK gives its LogRetention function (one per stack)."""
    for child in stack.node.children:
        if not child.node.id.startswith("LogRetention") or isinstance(child, logs.LogRetention):
            continue
        nag.suppress(
            child,
            ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
             "CDK's LogRetention function writes its own logs with the basic Lambda execution policy (CDK's choice)."),
        )
        nag.allow_wildcards(
            child,
            (r"Resource::\*", "CDK's LogRetention function sets retention policies by group name (CDK grants them on *)."),
            (rf"Resource::arn:{nag.PARTITION}:logs:{nag.REGION}:{nag.ACCOUNT}:log-group:/aws/sagemaker/Endpoints/[A-Za-z0-9-]+:\*",
             "Deletes the endpoint's own log group with a dev stack (the group ARN's :* suffix is CloudWatch Logs' form)."),
        )


@jsii.implements(IAspect)
class FunctionLogGroups:
    """Gives every Lambda function of a stack without a log group of its own one, with the stage's
    retention and removal (CDK's provider functions create ``/aws/lambda/<name>`` otherwise)."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention

    def visit(self, node: IConstruct) -> None:
        function = _function_without_log_group(node)
        if function is None or _scope_has(function, f"{function.node.id}Logs"):
            return
        scope = function.node.scope
        assert isinstance(scope, Construct)
        group = logs.LogGroup(
            scope,
            f"{function.node.id}Logs",
            retention=self.retention.log_retention,
            removal_policy=self.retention.removal,
        )
        function.add_property_override("LoggingConfig.LogGroup", group.log_group_name)


def _scope_has(construct: IConstruct, child_id: str) -> bool:
    scope = construct.node.scope
    return scope is not None and scope.node.try_find_child(child_id) is not None


def _function_without_log_group(node: IConstruct) -> Optional[CfnResource]:
    if isinstance(node, lambda_.CfnFunction):
        config = node.logging_config
        return None if config is not None and getattr(config, "log_group", None) else node
    # CDK's providers (custom resources, LogRetention) are plain CfnResources without LoggingConfig.
    if isinstance(node, CfnResource) and node.cfn_resource_type == "AWS::Lambda::Function":
        return node
    return None
