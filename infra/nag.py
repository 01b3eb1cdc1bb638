"""Acknowledging cdk-nag findings, each with its reason (cdk-nag v3).

cdk-nag 3 is a CDK policy-validation plugin (``Validations.of(app).add_plugins(...)``), and a
rule is acknowledged with ``Validations.of(construct).acknowledge(...)`` on the resource or
one of its parents.

``AwsSolutions-IAM5`` (wildcard permissions) reports one finding per wildcard action or
resource, acknowledged one by one as ``AwsSolutions-IAM5[Resource::...]``; the resource text
contains the account, region and logical IDs. Rather than copying those strings, constructs
declare which wildcards they accept (regular expressions, each with its reason) with
:func:`allow_wildcards`, and :func:`acknowledge_wildcards` (called once the app is built)
computes the findings exactly as cdk-nag does and acknowledges only the allowed ones. A new,
unexpected wildcard therefore still fails the build.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# (rule id, reason)
Suppression = Tuple[str, str]
WILDCARD_RULE = "AwsSolutions-IAM5"

_ALLOWANCES: Dict[Tuple[int, str], List[Tuple[re.Pattern, str]]] = {}


def _check_reason(rule: str, reason: str) -> None:
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule} needs a real reason")


def suppress(construct: IConstruct, *suppressions: Suppression) -> None:
    """Acknowledge whole rules on a construct and everything below it."""
    acks = []
    for rule, reason in suppressions:
        _check_reason(rule, reason)
        acks.append(cdk.Acknowledgment(id=rule, reason=reason))
    cdk.Validations.of(construct).acknowledge(*acks)


def allow_wildcards(construct: IConstruct, *rules: Tuple[str, str]) -> None:
    """Accept IAM wildcard findings matching ``regex`` (full match) below ``construct``.

    A finding is ``Action::<action>`` or ``Resource::<flattened resource>`` (tokens appear as
    ``<LogicalId.Attr>`` and ``<AWS::Partition>``, like cdk-nag prints them).
    """
    key = (id(construct.node.root), construct.node.path)
    for regex, reason in rules:
        _check_reason(WILDCARD_RULE, reason)
        _ALLOWANCES.setdefault(key, []).append((re.compile(regex), reason))


def flatten_cfn_reference(node: Any) -> str:
    """cdk-nag's flattenCfnReference (utils/flatten-cfn-reference.ts), in Python."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def wildcard_findings(policy_document: Dict[str, Any]) -> List[str]:
    """The IAM5 findings of a resolved policy document (cdk-nag's analyzePolicy)."""
    found: List[str] = []

    def as_list(value: Union[Any, Sequence[Any]]) -> List[Any]:
        return list(value) if isinstance(value, list) else [value]

    for statement in policy_document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and "*" in action:
                found.append(f"Action::{action}")
        for resource in as_list(statement.get("Resource")):
            flat = flatten_cfn_reference(resource)
            if "*" in flat:
                found.append(f"Resource::{flat}")
    return list(dict.fromkeys(found))


def acknowledge_wildcards(root: IConstruct) -> List[str]:
    """Acknowledge the allowed IAM5 findings of every IAM policy below ``root``.

    Returns the findings left unacknowledged (cdk-nag will report them).
    """
    unmatched: List[str] = []
    root_id = id(root.node.root)
    for construct in root.node.find_all():
        if not isinstance(construct, iam.CfnPolicy):
            continue
        document = cdk.Stack.of(construct).resolve(construct.policy_document)
        allowances: List[Tuple[re.Pattern, str]] = []
        scope: Optional[IConstruct] = construct
        while scope is not None:
            allowances.extend(_ALLOWANCES.get((root_id, scope.node.path), []))
            scope = scope.node.scope
        acks = []
        for finding in wildcard_findings(document):
            reason = next((why for regex, why in allowances if regex.fullmatch(finding)), None)
            if reason is None:
                unmatched.append(f"{construct.node.path}: {finding}")
            else:
                acks.append(cdk.Acknowledgment(id=f"{WILDCARD_RULE}[{finding}]", reason=reason))
        if acks:
            cdk.Validations.of(construct).acknowledge(*acks)
    return unmatched


# Reusable allowances -------------------------------------------------------------------------
XRAY = (
    r"Resource::\*",
    "X-Ray PutTraceSegments/PutTelemetryRecords and CloudWatch Logs delivery actions have no resource-level permissions.",
)


def objects_under(logical_or_name: str, prefix: str) -> str:
    """Regex of the object wildcard ``<bucket arn>/<prefix>*`` (bucket given by logical-id prefix)."""
    return rf"Resource::<{logical_or_name}[A-Za-z0-9]*\.Arn>/{re.escape(prefix)}\*"


ACCOUNT = r"(?:<AWS::AccountId>|\d{12})"
# A literal partition when the region is known (feature flag @aws-cdk/core:...partition literals).
PARTITION = r"(?:<AWS::Partition>|aws(?:-cn|-us-gov)?)"
REGION = r"(?:<AWS::Region>|[a-z]{2}(?:-[a-z]+)+-\d)"


def log_streams_of(group: str, prefix: str = "") -> str:
    return rf"Resource::arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{re.escape(group)}:log-stream:{re.escape(prefix)}\*"
