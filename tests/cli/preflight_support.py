"""Accounts for the ``headlines preflight`` tests: moto (in-process) where it implements the calls,
botocore's Stubber (which validates requests and responses against the service model) where it
does not: ``iam:SimulatePrincipalPolicy`` and Service Quotas' ``ListServiceQuotas``.

The CDK deploy role is created from the project's pinned CDK bootstrap template (its
``DeploymentActionRole`` policy, its ``Fn::Sub`` and ``Ref`` resolved for the account), so the
"default bootstrap" case is the template users get from ``npx cdk bootstrap``.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, Iterable, Mapping, Optional

from botocore.stub import Stubber
from cfnlint.decode import cfn_yaml

from headlines.preflight import BOOTSTRAP_QUALIFIER, SERVERLESS_CONCURRENCY_QUOTA, Clients
from headlines.project import ROOT

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PINNED_BOOTSTRAP_TEMPLATE = ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"
PROJECT_BOOTSTRAP_TEMPLATE = ROOT / "infra" / "bootstrap-template.yaml"
DEPLOY_ROLE = f"cdk-{BOOTSTRAP_QUALIFIER}-deploy-role-{ACCOUNT}-{REGION}"
#: The statement the project's bootstrap template adds to the deploy role (issue #24), as specified
#: there: the serving stack's SSM-typed parameter of any project and stage.
PROJECT_STATEMENT = {
    "Sid": "ResolveServingModel",
    "Effect": "Allow",
    "Action": "ssm:GetParameters",
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*/model/serving"},
}

#: Quotas as Service Quotas names them (the check matches the name and prints the listed code).
#: The codes are made up in Service Quotas' format, except the serverless one and the
#: ml.g4dn.xlarge one, which public guides quote.
QUOTA_CODES = {
    "ml.c5.2xlarge for training job usage": "L-0000C52X",
    "ml.c5.xlarge for training job usage": "L-0000C5XL",
    "ml.c5.large for endpoint usage": "L-0000C5LE",
    "ml.t3.medium for notebook instance usage": "L-0000T3MN",
    "ml.g4dn.xlarge for training job usage": "L-3F53BF0F",
    SERVERLESS_CONCURRENCY_QUOTA: "L-96300102",
}
#: Enough of each for the default configuration (cdk.json).
ENOUGH = {name: 20.0 for name in QUOTA_CODES}


def load_template(path=PINNED_BOOTSTRAP_TEMPLATE) -> Dict[str, Any]:
    """A CloudFormation template in YAML (cfn-lint's loader reads the short tags too), as plain data."""
    return json.loads(json.dumps(cfn_yaml.loads(path.read_text(encoding="utf-8"))))


def _resolve(node: Any, names: Mapping[str, str]) -> Any:
    """``Fn::Sub`` and ``Ref`` with the given names; any other intrinsic fails loudly."""
    if isinstance(node, list):
        return [_resolve(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda match: names[match.group(1)], node["Fn::Sub"])
    if set(node) == {"Ref"}:
        return names[node["Ref"]]
    intrinsic = [key for key in node if key.startswith("Fn::")]
    assert not intrinsic, f"no resolver for {intrinsic} in the bootstrap template's deploy role policy"
    return {key: _resolve(value, names) for key, value in node.items()}


def _names(account: str, region: str) -> Dict[str, str]:
    return {
        "AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account, "Qualifier": BOOTSTRAP_QUALIFIER,
        # Ref of an AWS::SSM::Parameter is its name; the GetAtt ...Arn of the bucket and role.
        "CdkBootstrapVersion": f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version",
        "StagingBucket.Arn": f"arn:aws:s3:::cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}",
        "CloudFormationExecutionRole.Arn": f"arn:aws:iam::{account}:role/cdk-{BOOTSTRAP_QUALIFIER}-cfn-exec-role-{account}-{region}",
    }


def deploy_role_policy(template: Optional[Dict[str, Any]] = None, extra: Iterable[Dict[str, Any]] = (),
                       account: str = ACCOUNT, region: str = REGION) -> Dict[str, Any]:
    """The deploy role's inline policy of a bootstrap template (default: the pinned one), resolved."""
    template = template or load_template()
    (policy,) = template["Resources"]["DeploymentActionRole"]["Properties"]["Policies"]
    document = copy.deepcopy(policy["PolicyDocument"])
    document["Statement"] = list(document["Statement"]) + list(extra)
    return _resolve(document, _names(account, region))


def bootstrap(clients: Clients, policy: Optional[Dict[str, Any]], version: str = "33") -> None:
    """A CDKToolkit stack with the version parameter (moto's CloudFormation creates it), and the
    deploy role with ``policy`` (none: no role)."""
    template = {
        "Resources": {"CdkBootstrapVersion": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Name": f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", "Value": version}}},
        "Outputs": {"BootstrapVersion": {"Value": version}},
    }
    clients.cloudformation.create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(template))
    if policy is None:
        return
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    clients.iam.create_role(RoleName=DEPLOY_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    clients.iam.put_role_policy(RoleName=DEPLOY_ROLE, PolicyName="default", PolicyDocument=json.dumps(policy))


def set_api_logging_role(clients: Clients, name: str = "apigateway-cloudwatch-logs") -> str:
    """What a user following the fix does: a role API Gateway may assume, set account-wide."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = clients.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    clients.apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
    return arn


class Routed:
    """A client whose named operations go to botocore's Stubber, the rest to moto."""

    def __init__(self, emulated: Any, stubbed: Any, operations: Iterable[str]) -> None:
        self._emulated, self._stubbed, self._operations = emulated, stubbed, frozenset(operations)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._operations else self._emulated, name)


def quota(name: str, value: float, code: Optional[str] = None) -> Dict[str, Any]:
    return {"ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker", "QuotaName": name,
            "QuotaCode": code or QUOTA_CODES[name], "Value": value, "Unit": "None", "Adjustable": True,
            "GlobalQuota": False}


def add_quotas(stub: Stubber, values: Mapping[str, float], defaults: Optional[Mapping[str, float]] = None) -> None:
    """ListServiceQuotas (and, when given, ListAWSDefaultServiceQuotas) answers, one page each."""
    stub.add_response("list_service_quotas", {"Quotas": [quota(n, v) for n, v in values.items()]},
                      {"ServiceCode": "sagemaker"})
    if defaults is not None:
        stub.add_response("list_aws_default_service_quotas", {"Quotas": [quota(n, v) for n, v in defaults.items()]},
                          {"ServiceCode": "sagemaker"})


def add_simulation(stub: Stubber, decision: str, resource: str, **detail: Any) -> None:
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [{"EvalActionName": "ssm:GetParameters", "EvalResourceName": resource,
                                "EvalDecision": decision, **detail}], "IsTruncated": False},
        {"PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:role/{DEPLOY_ROLE}", "ActionNames": ["ssm:GetParameters"],
         "ResourceArns": [resource]},
    )


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status = status

    def __enter__(self) -> "FakeResponse":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def opener_answering(status: int, seen: Optional[list] = None):
    """An injected opener: 200 as a response, 4xx/5xx as urllib's HTTPError; never the network."""
    import urllib.error

    def opener(request, timeout):
        if seen is not None:
            seen.append((request.full_url, dict(request.header_items()), timeout))
        if status >= 400:
            raise urllib.error.HTTPError(request.full_url, status, "answer", {}, None)
        return FakeResponse(status)
    return opener
