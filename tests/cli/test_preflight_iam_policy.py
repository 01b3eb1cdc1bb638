"""headlines/iam_policy.py: the evaluation ``headlines preflight`` falls back to when IAM's own
simulation is not available, on the CDK bootstrap templates' deploy role and on IAM's rules."""
from __future__ import annotations

import json
import urllib.parse

import pytest
from preflight_support import (
    ACCOUNT,
    PINNED_BOOTSTRAP_TEMPLATE,
    PROJECT_BOOTSTRAP_TEMPLATE,
    PROJECT_STATEMENT,
    REGION,
    deploy_role_policy,
    load_template,
)

from headlines.iam_policy import evaluate, policy_document, wildcard_match

ACTION = "ssm:GetParameters"
SERVING = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/headlines/dev/model/serving"
SERVING_PROD = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/headlines/prod/model/serving"
VERSION = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/cdk-bootstrap/hnb659fds/version"


def _policy(*statements):
    return [("p", {"Version": "2012-10-17", "Statement": list(statements)})]


def test_the_pinned_bootstrap_template_lets_the_deploy_role_read_only_its_version():
    """The contract the check relies on (aws/aws-cdk#20959): the default deploy role may call
    ssm:GetParameters on the bootstrap version parameter and nothing else."""
    assert "ReadVersion" in PINNED_BOOTSTRAP_TEMPLATE.read_text(encoding="utf-8")
    default = [("default", deploy_role_policy())]
    assert evaluate(default, ACTION, VERSION).decision == "allowed"
    assert evaluate(default, ACTION, SERVING).decision == "implicitDeny"
    with_statement = [("default", deploy_role_policy(extra=[PROJECT_STATEMENT]))]
    assert evaluate(with_statement, ACTION, SERVING).allowed and evaluate(with_statement, ACTION, SERVING_PROD).allowed
    assert not evaluate(with_statement, ACTION, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/other/secret").allowed


@pytest.mark.skipif(not PROJECT_BOOTSTRAP_TEMPLATE.exists(),
                    reason="infra/bootstrap-template.yaml is not in this branch yet (the infra part of issue #24 adds it)")
def test_the_projects_bootstrap_template_lets_the_deploy_role_resolve_the_serving_parameter():
    policy = [("default", deploy_role_policy(load_template(PROJECT_BOOTSTRAP_TEMPLATE)))]
    assert evaluate(policy, ACTION, SERVING).allowed and evaluate(policy, ACTION, SERVING_PROD).allowed
    assert evaluate(policy, ACTION, VERSION).allowed


@pytest.mark.parametrize("pattern, text, case_sensitive, expected", [
    ("ssm:Get*", "ssm:GetParameters", False, True),
    ("SSM:getparameter?", "ssm:GetParameters", False, True),
    ("ssm:GetParameter?", "ssm:GetParameter", False, False),
    ("arn:aws:ssm:*:*:parameter/*/model/serving", SERVING, True, True),
    ("arn:aws:ssm:*:*:parameter/*/Model/serving", SERVING, True, False),
    ("arn:aws:ssm:*:*:parameter/[h]eadlines/*", SERVING, True, False),  # brackets are literal in IAM
    ("*", SERVING, True, True),
])
def test_iam_wildcards(pattern, text, case_sensitive, expected):
    assert wildcard_match(pattern, text, case_sensitive) is expected


def test_an_explicit_deny_wins_and_conditions_are_named():
    policies = _policy({"Effect": "Allow", "Action": "ssm:*", "Resource": "*"},
                       {"Sid": "NoModels", "Effect": "Deny", "Action": ACTION, "Resource": "arn:aws:ssm:*:*:parameter/*/model/*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    decision = evaluate(policies, ACTION, SERVING)
    assert decision.decision == "explicitDeny"
    assert decision.notes == ("Deny p/NoModels has a Condition, not evaluated here",)


def test_not_action_and_not_resource():
    assert evaluate(_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), ACTION, SERVING).allowed
    assert not evaluate(_policy({"Effect": "Allow", "NotAction": "ssm:*", "Resource": "*"}), ACTION, SERVING).allowed
    assert not evaluate(_policy({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:ssm:*"}), ACTION, SERVING).allowed
    assert evaluate(_policy({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::*"}), ACTION, SERVING).allowed


def test_a_permissions_boundary_limits_what_is_allowed():
    allow = _policy({"Effect": "Allow", "Action": ACTION, "Resource": SERVING})
    boundary = ("boundary", {"Statement": {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}})
    decision = evaluate(allow, ACTION, SERVING, boundary)
    assert decision.decision == "implicitDeny" and decision.notes == ("outside the permissions boundary boundary",)
    assert decision.denied_by == "boundary"
    assert evaluate(allow, ACTION, SERVING, ("b", {"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]})).allowed


def test_policy_documents_as_iam_returns_them():
    document = {"Version": "2012-10-17", "Statement": []}
    assert policy_document(urllib.parse.quote(json.dumps(document))) == document
    assert policy_document(document) == document
    with pytest.raises(ValueError):
        policy_document("{'Statement': []}")
