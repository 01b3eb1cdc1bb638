"""``headlines preflight``: read-only checks of the target account before a deploy.

Against moto (in-process) where it implements the calls, botocore's Stubber where it does not
(iam:SimulatePrincipalPolicy, Service Quotas): tests/cli/preflight_support.py. An all-green
account passes; each way an account can be unready gives one clear FAIL line with its fix and
exit 1; what cannot be checked is a ``?`` line and no failure; credentials and usage problems
are one ``error:`` line and exit 2. Nothing here reaches AWS or the internet.
"""
from __future__ import annotations

import json
import urllib.error
from dataclasses import dataclass, replace
from typing import Any, List

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from preflight_support import (
    ACCOUNT,
    DEPLOY_ROLE,
    ENOUGH,
    PROJECT_STATEMENT,
    REGION,
    Routed,
    add_quotas,
    add_simulation,
    bootstrap,
    deploy_role_policy,
    opener_answering,
    quota,
    set_api_logging_role,
)

from headlines import preflight
from headlines.cli import commands as cli
from headlines.cli import preflight as preflight_cli
from headlines.config import load_config

SERVING_PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/headlines/dev/model/serving"
DEFAULT_ROLE_LINE = ("FAIL the CDK deploy role cannot read SSM parameter /headlines/dev/model/serving, which CloudFormation "
                     "resolves with it when deploying HeadlinesServing -> fix: make bootstrap FORCE=1 (the project's bootstrap "
                     "template; FORCE replaces CDK's default one)")


def _without_aws_environment(monkeypatch, tmp_path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Emulated:
    """A moto account, the clients the checks get (IAM's simulation and Service Quotas stubbed),
    and the command line run against it."""

    emulated: preflight.Clients  # moto only
    clients: preflight.Clients  # what the checks read with
    iam_stub: Stubber
    quota_stub: Stubber
    monkeypatch: Any
    capsys: Any

    def deny_simulation(self, code: str = "AccessDenied", message: str = "not authorized to perform "
                        "iam:SimulatePrincipalPolicy", status: int = 403) -> None:
        """IAM's simulation refused (or, with an HTML page and 500, missing as on moto's server):
        the check reads the deploy role's policies from moto and evaluates them."""
        self.iam_stub.add_client_error("simulate_principal_policy", code, message, http_status_code=status)

    def green(self, policy=None, quotas=ENOUGH, simulate: bool = True) -> None:
        bootstrap(self.emulated, policy or deploy_role_policy(extra=[PROJECT_STATEMENT]))
        set_api_logging_role(self.emulated)
        if simulate:
            add_simulation(self.iam_stub, "allowed", SERVING_PARAMETER_ARN)
        add_quotas(self.quota_stub, quotas)

    def run(self, *argv: str, clients=None, git_status: int = 200):
        """``headlines preflight ARGV`` as users run it (cli.main), with these clients and no network."""
        chosen = clients or self.clients
        self.monkeypatch.setattr(preflight_cli, "create_clients", lambda region: chosen)
        self.monkeypatch.setattr(preflight, "_urlopen", opener_answering(git_status))
        code = cli.main(["preflight", *argv])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def account(monkeypatch, tmp_path, capsys):
    _without_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        emulated = preflight.Clients.from_session(session)
        stubbed_iam, quotas = session.client("iam"), session.client("service-quotas")
        clients = replace(emulated, iam=Routed(emulated.iam, stubbed_iam, {"simulate_principal_policy"}), service_quotas=quotas)
        with Stubber(stubbed_iam) as iam_stub, Stubber(quotas) as quota_stub:
            yield Emulated(emulated, clients, iam_stub, quota_stub, monkeypatch, capsys)
            iam_stub.assert_no_pending_responses()
            quota_stub.assert_no_pending_responses()


def fail_lines(out: str) -> List[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL")]


def line_of(out: str, text: str) -> str:
    (found,) = [line for line in out.splitlines() if text in line]
    return found


# ---- the command ----------------------------------------------------------------------------------

def test_a_green_account_passes(account):
    account.green()
    code, out, err = account.run()
    assert (code, err) == (0, ""), out + err
    lines = out.splitlines()
    assert lines[0] == (f"preflight of aws://{ACCOUNT}/{REGION} for HeadlinesPipeline and HeadlinesServing, "
                        f"as arn:aws:sts::{ACCOUNT}:user/moto")
    assert {line[:5] for line in lines[1:-1]} <= {"ok   ", "info "}, out
    assert lines[-1] == "preflight: 10 ok, 0 failed, 0 could not be checked: nothing found that would fail a deploy"
    assert line_of(out, "CDK bootstrap").startswith("ok   CDK bootstrap: CDKToolkit (CREATE_COMPLETE), version 33 >= 8")
    assert f"CDK deploy role {DEPLOY_ROLE} may call ssm:GetParameters on /headlines/dev/model/serving " \
           "(iam:SimulatePrincipalPolicy)" in out
    assert "ok   quota L-0000C52X ml.c5.2xlarge for training job usage: 20, needs 2 (the embeddings job, 2 instance(s))" in out
    assert "ok   quota L-0000C5LE ml.c5.large for endpoint usage: 20, needs 4 (the endpoint, 4 instance(s) at most)" in out
    assert "ok   quota L-0000T3MN ml.t3.medium for notebook instance usage: 20, needs 1" in out
    assert "ok   image MXNet 1.9.0 py38 training on ml.c5.xlarge: 763104351884.dkr.ecr.us-east-1.amazonaws.com/" \
           "mxnet-training:1.9.0-cpu-py38" in out
    assert f"ok   API Gateway's CloudWatch logging role: arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-logs" in out
    assert "notebook repository" not in out  # none configured: the notebook gets the deployed project
    assert line_of(out, "classifier training job").startswith(
        "info classifier training job: MaxRuntimeInSeconds 21600 s (6.0 h) on ml.c5.xlarge, sized for 422,937 data rows")


def test_a_missing_training_quota_is_one_fail_line(account):
    account.green(quotas={**ENOUGH, "ml.c5.2xlarge for training job usage": 0.0})
    code, out, _ = account.run()
    assert code == 1
    assert fail_lines(out) == [
        "FAIL quota L-0000C52X ml.c5.2xlarge for training job usage is 0, needs 2 (the embeddings job, 2 instance(s)) "
        "-> fix: request 2 in the Service Quotas console (Amazon SageMaker, L-0000C52X) or: aws service-quotas "
        "request-service-quota-increase --service-code sagemaker --quota-code L-0000C52X --desired-value 2 "
        "--region us-east-1; or -c headlines.embeddings.instance_type=..."]
    assert out.splitlines()[-1].startswith("preflight: 9 ok, 1 failed, 0 could not be checked: a deploy would fail")


@pytest.mark.parametrize("how", ["simulation", "its policies"])
def test_a_default_bootstrap_deploy_role_is_one_fail_line(account, how):
    """The pinned bootstrap template's deploy role: IAM's simulation says implicitDeny (Stubber),
    or, where the simulation is refused, its policy read from moto and evaluated here."""
    account.green(policy=deploy_role_policy(), simulate=False)
    if how == "simulation":
        add_simulation(account.iam_stub, "implicitDeny", SERVING_PARAMETER_ARN)
    else:
        account.deny_simulation()
    code, out, _ = account.run()
    assert code == 1
    assert fail_lines(out) == [DEFAULT_ROLE_LINE]


def test_the_project_statement_passes_when_only_the_policies_can_be_read(account):
    account.green(simulate=False)
    account.deny_simulation("500", "<!doctype html>\n<title>500 Internal Server Error</title>", status=500)
    code, out, _ = account.run()
    assert code == 0, out
    assert line_of(out, "CDK deploy role") == (
        f"ok   CDK deploy role {DEPLOY_ROLE} may call ssm:GetParameters on /headlines/dev/model/serving (its policies, "
        "read and evaluated here as simulate_principal_policy failed: the endpoint answered HTTP 500 (not implemented "
        "there?); SCPs not seen)")


@pytest.mark.parametrize("detail, cause, fix", [
    ({"OrganizationsDecisionDetail": {"AllowedByOrganizations": False}},
     "a service control policy of the organization denies it",
     f"ask the organization's administrators to allow ssm:GetParameters on {SERVING_PARAMETER_ARN} for {DEPLOY_ROLE}"),
    ({"PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False}},
     "outside the role's permissions boundary",
     f"a permissions boundary that allows ssm:GetParameters on {SERVING_PARAMETER_ARN}: make bootstrap with cdk "
     "bootstrap's --custom-permissions-boundary"),
], ids=["scp", "boundary"])
def test_a_denial_from_outside_the_roles_policies_names_its_own_fix(account, detail, cause, fix):
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    add_simulation(account.iam_stub, "implicitDeny", SERVING_PARAMETER_ARN, **detail)
    result = preflight.check_deploy_role(account.clients, _account(), load_config())
    assert (result.status, result.fix) == ("fail", fix)
    assert result.message.endswith(f"when deploying HeadlinesServing ({cause})")


def test_no_deploy_role_is_one_fail_line(account):
    bootstrap(account.emulated, policy=None)
    set_api_logging_role(account.emulated)
    account.iam_stub.add_client_error("simulate_principal_policy", "NoSuchEntity", "The role cannot be found.")
    add_quotas(account.quota_stub, ENOUGH)
    code, out, _ = account.run()
    assert code == 1
    assert fail_lines(out) == [f"FAIL the CDK deploy role {DEPLOY_ROLE} does not exist (not bootstrapped, or with another "
                               "qualifier than hnb659fds) -> fix: make bootstrap"]


def test_an_absent_api_logging_role_is_one_fail_line(account):
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    add_simulation(account.iam_stub, "allowed", SERVING_PARAMETER_ARN)
    add_quotas(account.quota_stub, ENOUGH)
    code, out, _ = account.run()
    assert code == 1
    assert fail_lines(out) == [
        "FAIL API Gateway's CloudWatch logging role is not set in us-east-1; the serving stack's API logging needs it "
        "(api.logging_role=existing) -> fix: set it once per account and region: aws apigateway update-account "
        "--patch-operations op=replace,path=/cloudwatchRoleArn,value=<role arn> (a role trusting apigateway.amazonaws.com "
        "with the AmazonAPIGatewayPushToCloudWatchLogs managed policy), or deploy with -c headlines.api.logging_role=create"]


def test_logging_role_create_needs_no_account_setting(account):
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    add_simulation(account.iam_stub, "allowed", SERVING_PARAMETER_ARN)
    add_quotas(account.quota_stub, ENOUGH)
    code, out, _ = account.run("-c", "headlines.api.logging_role=create")
    assert code == 0, out
    assert "ok   API Gateway's CloudWatch logging role: the serving stack creates and sets one " \
           "(api.logging_role=create; set now: none)" in out


def test_a_logging_role_that_no_longer_exists_fails(account):
    account.green()
    account.emulated.apigateway.update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": f"arn:aws:iam::{ACCOUNT}:role/deleted-role"}])
    code, out, _ = account.run()
    assert code == 1
    (line,) = fail_lines(out)
    assert line.startswith(f"FAIL API Gateway's CloudWatch logging role arn:aws:iam::{ACCOUNT}:role/deleted-role does not "
                           "exist -> fix: set it once per account and region")


def test_what_cannot_be_checked_is_reported_and_fails_nothing(account):
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    set_api_logging_role(account.emulated)
    add_simulation(account.iam_stub, "allowed", SERVING_PARAMETER_ARN)
    account.quota_stub.add_client_error("list_service_quotas", "AccessDeniedException", "not authorized to list quotas")
    code, out, _ = account.run()
    assert code == 0, out
    unknown = [line for line in out.splitlines() if line.startswith("?")]
    assert unknown[0] == ("?    could not check the SageMaker quota 'ml.c5.2xlarge for training job usage' (needs 2): "
                          "list_service_quotas: AccessDeniedException: not authorized to list quotas")
    assert len(unknown) == 4
    assert out.splitlines()[-1] == ("preflight: 6 ok, 0 failed, 4 could not be checked: nothing found that would fail "
                                    "a deploy")


def test_json_prints_the_same_as_one_document(account):
    account.green(quotas={**ENOUGH, "ml.t3.medium for notebook instance usage": 0.0})
    code, out, _ = account.run("--json")
    assert code == 1
    document = json.loads(out)
    assert (document["account"], document["region"], document["exit_status"]) == (ACCOUNT, REGION, 1)
    assert document["caller"] == f"arn:aws:sts::{ACCOUNT}:user/moto"
    assert document["stacks"] == ["HeadlinesPipeline", "HeadlinesServing"]
    assert document["counts"] == {"ok": 9, "fail": 1, "unknown": 0, "info": 1}
    (failed,) = [check for check in document["checks"] if check["status"] == "fail"]
    assert failed["check"] == "quota" and failed["details"]["quota_code"] == "L-0000T3MN"
    assert "--quota-code L-0000T3MN --desired-value 1" in failed["fix"]


def test_settings_are_checked_as_cdk_deploy_would_deploy_them(account):
    """-c overrides as the CDK CLI takes them: serverless serving needs the concurrency quota instead."""
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    set_api_logging_role(account.emulated)
    add_simulation(account.iam_stub, "allowed", SERVING_PARAMETER_ARN)
    add_quotas(account.quota_stub, {**ENOUGH, preflight.SERVERLESS_CONCURRENCY_QUOTA: 10.0})
    code, out, _ = account.run("-c", "headlines.serving.mode=serverless", "--context",
                               "headlines.serving.serverless_max_concurrency=20", "-c", "headlines.notebook.enabled=false")
    assert code == 1
    assert fail_lines(out) == [
        "FAIL quota L-96300102 Maximum total concurrency that can be allocated across all serverless endpoints is 10, "
        "needs 20 (the serverless endpoint's max concurrency 20) -> fix: request 20 in the Service Quotas console (Amazon "
        "SageMaker, L-96300102) or: aws service-quotas request-service-quota-increase --service-code sagemaker "
        "--quota-code L-96300102 --desired-value 20 --region us-east-1; or -c headlines.serving.serverless_max_concurrency=..."]
    assert "for endpoint usage" not in out and "notebook" not in out


def test_no_credentials_is_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    _without_aws_environment(monkeypatch, tmp_path)
    code = cli.main(["preflight", "--region", REGION])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: no AWS credentials found while reading the caller's identity (sts "
                                "get-caller-identity): configure them (aws configure, AWS_PROFILE, ...)"]


def test_invalid_credentials_are_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    _without_aws_environment(monkeypatch, tmp_path)
    sts = boto3.client("sts", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(sts) as stub:
        stub.add_client_error("get_caller_identity", "InvalidClientTokenId",
                              "The security token included in the request is invalid.", http_status_code=403)
        clients = preflight.Clients(sts=sts, cloudformation=None, ssm=None, iam=None, service_quotas=None, apigateway=None)
        monkeypatch.setattr(preflight_cli, "create_clients", lambda region: clients)
        code = cli.main(["preflight"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == ["error: reading the caller's identity (sts get-caller-identity): InvalidClientTokenId: "
                                "The security token included in the request is invalid."]


def test_no_region_is_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    _without_aws_environment(monkeypatch, tmp_path)
    assert cli.main(["preflight"]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region"]


def test_an_unknown_profile_is_one_error_line_and_exit_2(monkeypatch, tmp_path, capsys):
    _without_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    assert cli.main(["preflight", "--region", REGION]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: The config profile (nowhere) could not be found"]


def test_a_bad_setting_is_one_error_line_and_exit_2(capsys):
    assert cli.main(["preflight", "-c", "headlines.serving.mode=fast"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cdk.json headlines.serving.mode: ")


def test_the_region_comes_from_the_flag_then_the_context(monkeypatch, tmp_path):
    _without_aws_environment(monkeypatch, tmp_path)
    assert preflight_cli.create_clients("eu-west-1").sts.meta.region_name == "eu-west-1"

    class Chosen(Exception):
        pass

    def record(region):
        raise Chosen(region)

    monkeypatch.setattr(preflight_cli, "create_clients", record)
    parser = cli.build_parser()
    for argv, region in ((["preflight", "-c", "region=eu-central-1"], "eu-central-1"),
                         (["preflight", "--region", "us-west-2", "-c", "region=eu-central-1"], "us-west-2")):
        with pytest.raises(Chosen, match=region):
            preflight_cli.preflight(parser.parse_args(argv))


# ---- the checks, one by one -------------------------------------------------------------------------

def _account() -> preflight.Account:
    return preflight.Account(ACCOUNT, "aws", REGION)


def test_not_bootstrapped(account):
    result = preflight.check_bootstrap(account.clients, _account())
    assert (result.status, result.message, result.fix) == (
        "fail", f"aws://{ACCOUNT}/{REGION} is not bootstrapped for the CDK (no stack CDKToolkit)", "make bootstrap")


def test_an_old_bootstrap_version_fails(account):
    bootstrap(account.emulated, policy=None, version="5")
    result = preflight.check_bootstrap(account.clients, _account())
    assert (result.status, result.fix) == ("fail", "make bootstrap FORCE=1 (upgrades CDKToolkit in place; FORCE replaces "
                                                   "CDK's default template)")
    assert result.message == f"the CDK bootstrap of aws://{ACCOUNT}/{REGION} is version 5; the app needs 8 or later"


def test_a_bootstrap_without_its_version_parameter_fails(account):
    bootstrap(account.emulated, policy=None)
    account.emulated.ssm.delete_parameter(Name=preflight.BOOTSTRAP_VERSION_PARAMETER)
    result = preflight.check_bootstrap(account.clients, _account())
    assert result.status == "fail" and "has no /cdk-bootstrap/hnb659fds/version" in result.message


def test_an_unreadable_version_parameter_falls_back_to_the_stacks_output(account):
    bootstrap(account.emulated, policy=None)
    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_client_error("get_parameter", "AccessDeniedException", "no ssm:GetParameter")
        result = preflight.check_bootstrap(replace(account.clients, ssm=ssm), _account())
    assert result.status == "ok"
    assert result.message.endswith("version 33 >= 8 (from CDKToolkit's output BootstrapVersion (get_parameter: "
                                   "AccessDeniedException: no ssm:GetParameter))")


def test_a_failed_bootstrap_stack_fails(account):
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{"StackName": "CDKToolkit", "CreationTime": "2026-01-01T00:00:00Z",
                                                          "StackStatus": "ROLLBACK_COMPLETE"}]}, {"StackName": "CDKToolkit"})
        result = preflight.check_bootstrap(replace(account.clients, cloudformation=cloudformation), _account())
    assert (result.status, result.message) == ("fail", "the CDK bootstrap stack CDKToolkit is ROLLBACK_COMPLETE")
    assert result.fix.startswith("delete it (aws cloudformation delete-stack --stack-name CDKToolkit), then make bootstrap")


def test_a_denied_simulation_and_unreadable_policies_cannot_be_checked(account):
    bootstrap(account.emulated, deploy_role_policy())
    account.iam_stub.add_client_error("simulate_principal_policy", "AccessDenied", "not authorized to simulate")
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_client_error("get_role", "AccessDenied", "not authorized to read roles")
        stubbed = replace(account.clients, iam=Routed(iam, account.clients.iam, {"simulate_principal_policy"}))
        result = preflight.check_deploy_role(stubbed, _account(), load_config())
    assert result.status == "unknown"
    assert result.message == ("could not check whether the CDK deploy role may call ssm:GetParameters on "
                              "/headlines/dev/model/serving: simulate_principal_policy: AccessDenied: not authorized to "
                              "simulate; and get_role: AccessDenied: not authorized to read roles")


def test_a_deploy_role_policy_that_is_not_json_cannot_be_evaluated(account):
    """moto stores the inline policies of a role its CloudFormation created as a Python repr."""
    bootstrap(account.emulated, policy=None)
    account.emulated.iam.create_role(RoleName=DEPLOY_ROLE, AssumeRolePolicyDocument="{}")
    iam = boto3.client("iam", region_name=REGION)
    with Stubber(iam) as stub:
        stub.add_response("get_role", {"Role": {"Path": "/", "RoleName": DEPLOY_ROLE, "RoleId": "AROAEXAMPLEEXAMPLE01",
                                                "Arn": f"arn:aws:iam::{ACCOUNT}:role/{DEPLOY_ROLE}",
                                                "CreateDate": "2026-01-01T00:00:00Z"}}, {"RoleName": DEPLOY_ROLE})
        stub.add_response("list_role_policies", {"PolicyNames": ["default"], "IsTruncated": False}, {"RoleName": DEPLOY_ROLE})
        stub.add_response("get_role_policy", {"RoleName": DEPLOY_ROLE, "PolicyName": "default",
                                              "PolicyDocument": "{'Statement': []}"},
                          {"RoleName": DEPLOY_ROLE, "PolicyName": "default"})
        stub.add_response("list_attached_role_policies", {"AttachedPolicies": [], "IsTruncated": False},
                          {"RoleName": DEPLOY_ROLE})
        result = preflight.check_deploy_role(replace(account.clients, iam=iam), _account(), load_config())
    assert result.status == "unknown"
    assert result.message.endswith("the policy default of cdk-hnb659fds-deploy-role-123456789012-us-east-1: its document is "
                                   "not JSON")


def test_a_permissions_boundary_is_evaluated_too(account):
    """The deploy role's policy allows it, a permissions boundary without ssm does not."""
    bootstrap(account.emulated, deploy_role_policy(extra=[PROJECT_STATEMENT]))
    boundary = account.emulated.iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]}))
    account.emulated.iam.put_role_permissions_boundary(RoleName=DEPLOY_ROLE, PermissionsBoundary=boundary["Policy"]["Arn"])
    account.deny_simulation()
    result = preflight.check_deploy_role(account.clients, _account(), load_config())
    assert (result.status, result.details["decision"]) == ("fail", "implicitDeny")
    assert result.message.endswith("(outside the role's permissions boundary)")


def test_quota_needs_follow_the_configuration():
    needs = {need.name: (need.need, need.users) for need in preflight.quota_needs(load_config())}
    assert needs == {
        "ml.c5.2xlarge for training job usage": (2, ("the embeddings job, 2 instance(s)",)),
        "ml.c5.xlarge for training job usage": (1, ("the classifier job",)),
        "ml.c5.large for endpoint usage": (4, ("the endpoint, 4 instance(s) at most",)),
        "ml.t3.medium for notebook instance usage": (1, ("the notebook instance",)),
    }
    # The jobs run one after another: one instance type for both needs the larger count, not the sum.
    shared = load_config({"headlines.classifier.instance_type": "ml.c5.2xlarge", "headlines.notebook.enabled": "false",
                          "headlines.serving.autoscaling": "null", "headlines.serving.initial_instance_count": "2"})
    needs = {need.name: need.need for need in preflight.quota_needs(shared)}
    assert needs == {"ml.c5.2xlarge for training job usage": 2, "ml.c5.large for endpoint usage": 2}
    gpu = load_config({"headlines.classifier.gpu": "true"})
    (classifier,) = [need for need in preflight.quota_needs(gpu) if "the classifier job" in need.users]
    assert (classifier.name, classifier.alternative) == ("ml.g4dn.xlarge for training job usage",
                                                         "-c headlines.classifier.gpu_instance_type=...")


def _quota_clients():
    client = boto3.client("service-quotas", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, preflight.Clients(sts=None, cloudformation=None, ssm=None, iam=None, service_quotas=client,
                                     apigateway=None)


def test_a_quota_without_an_applied_value_uses_the_accounts_default():
    client, clients = _quota_clients()
    applied = {name: 20.0 for name in ("ml.c5.2xlarge for training job usage", "ml.c5.xlarge for training job usage",
                                       "ml.c5.large for endpoint usage")}
    with Stubber(client) as stub:
        add_quotas(stub, applied, defaults={"ml.t3.medium for notebook instance usage": 0.0})
        results = preflight.check_quotas(clients, _account(), load_config())
    assert [r.status for r in results] == ["ok", "ok", "ok", "fail"]
    assert results[-1].message == ("quota L-0000T3MN ml.t3.medium for notebook instance usage is 0 (the account's default: "
                                   "no applied value listed), needs 1 (the notebook instance)")


def test_an_instance_type_the_region_does_not_offer_fails():
    client, clients = _quota_clients()
    with Stubber(client) as stub:
        add_quotas(stub, {"ml.c5.2xlarge for training job usage": 2.0}, defaults={})
        results = preflight.check_quotas(clients, _account(), load_config({"headlines.notebook.enabled": "false"}))
    assert [r.status for r in results] == ["ok", "fail", "fail"]
    assert results[1].message == ("no SageMaker quota 'ml.c5.xlarge for training job usage' in us-east-1: not available in "
                                  "us-east-1")
    assert results[1].fix == ("choose what us-east-1 offers (-c headlines.classifier.instance_type=...), or deploy to "
                              "another region (--region)")


def test_quotas_are_read_across_pages():
    client, clients = _quota_clients()
    with Stubber(client) as stub:
        names = list(ENOUGH)
        stub.add_response("list_service_quotas", {"Quotas": [quota(n, 20.0) for n in names[:2]], "NextToken": "page-2"},
                          {"ServiceCode": "sagemaker"})
        stub.add_response("list_service_quotas", {"Quotas": [quota(n, 20.0) for n in names[2:]]},
                          {"ServiceCode": "sagemaker", "NextToken": "page-2"})
        results = preflight.check_quotas(clients, _account(), load_config())
    assert [r.status for r in results] == ["ok"] * 4


def test_defaults_that_cannot_be_read_leave_the_missing_quota_unchecked():
    client, clients = _quota_clients()
    with Stubber(client) as stub:
        add_quotas(stub, {})
        stub.add_client_error("list_aws_default_service_quotas", "AccessDeniedException", "denied")
        results = preflight.check_quotas(clients, _account(), load_config({"headlines.notebook.enabled": "false"}))
    assert {r.status for r in results} == {"unknown"}
    assert results[0].message.endswith("not among the applied quotas, and list_aws_default_service_quotas: "
                                       "AccessDeniedException: denied")


def test_images_of_a_region_without_them_fail():
    results = preflight.check_images(load_config({"headlines.classifier.gpu": "true"}), "mx-central-1")
    assert [r.status for r in results] == ["fail"] * 3
    assert results[0].message == "no image BlazingText (the embeddings job) in mx-central-1 (SageMaker SDK's table: " \
                                 "Unsupported region: mx-central-1)"
    assert results[1].fix == ("deploy to a region that has it (--region; cdk deploy's region), or train on CPU: "
                              "-c headlines.classifier.gpu=false")
    assert [r.status for r in preflight.check_images(load_config(), "eu-central-2")] == ["ok"] * 3


def test_images_without_the_sdk_cannot_be_checked(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sagemaker.core", None)
    results = preflight.check_images(load_config(), REGION)
    assert {r.status for r in results} == {"unknown"}
    assert "pip install 'headlines-mlops[cdk]'" in results[0].message


def test_the_image_props_are_the_stacks():
    from infra.stacks import image_props

    for overrides in ({}, {"headlines.classifier.gpu": "true"}, {"headlines.serving.mode": "serverless"}):
        cfg = load_config(overrides)
        assert preflight.image_props(cfg) == image_props(cfg)


WITH_REPOSITORY = {"headlines.notebook.repository_url": "https://github.com/headlines-mlops/headlines-mlops.git"}


def test_the_notebook_repository_is_probed_as_git_clones_it():
    seen: list = []
    (result,) = preflight.check_notebook_repository(load_config(WITH_REPOSITORY), opener_answering(200, seen))
    assert result.status == "ok"
    ((url, headers, timeout),) = seen
    assert url == "https://github.com/headlines-mlops/headlines-mlops.git/info/refs?service=git-upload-pack"
    assert headers["User-agent"].startswith("git/") and "Authorization" not in headers and timeout == 10.0


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_repository_that_cannot_be_cloned_fails(status):
    (result,) = preflight.check_notebook_repository(load_config(WITH_REPOSITORY), opener_answering(status))
    assert result.status == "fail"
    assert result.message == (f"the notebook repository https://github.com/headlines-mlops/headlines-mlops.git cannot be "
                              f"cloned anonymously (HTTP {status}): SageMaker clones it when it creates the instance; a "
                              "failed clone rolls back the pipeline stack")


def test_a_repository_that_cannot_be_reached_is_not_a_failure():
    def offline(request, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    (result,) = preflight.check_notebook_repository(load_config(WITH_REPOSITORY), offline)
    assert result.status == "unknown" and result.message.endswith(": [Errno -3] Temporary failure in name resolution")
    (result,) = preflight.check_notebook_repository(load_config(WITH_REPOSITORY), opener_answering(503))
    assert (result.status, result.message.rsplit(": ", 1)[-1]) == ("unknown", "HTTP 503")


def test_no_repository_no_probe():
    def never(request, timeout):
        raise AssertionError("probed")

    assert preflight.check_notebook_repository(load_config({"headlines.notebook.enabled": "false"}), never) == []
    cfg = load_config()
    unset = cfg.model_copy(update={"notebook": cfg.notebook.model_copy(update={"repository_url": None})})
    assert preflight.check_notebook_repository(unset, never) == []


def test_the_training_time_is_information():
    result = preflight.training_time(load_config())
    assert result.status == "info"
    assert result.message == ("classifier training job: MaxRuntimeInSeconds 21600 s (6.0 h) on ml.c5.xlarge, sized for "
                              "422,937 data rows (the worst case these hyperparameters allow, every member's whole epoch "
                              "budget and the refit: 3.0 h, x 2 margin; headlines/training_time.py); the pipeline's "
                              "timeout 570 min")
    fixed = preflight.training_time(load_config({"headlines.classifier.max_runtime_seconds": "7200"}))
    assert "(2.0 h) on ml.c5.xlarge, sized for 422,937 data rows (classifier.max_runtime_seconds)" in fixed.message
    unknown = preflight.training_time(load_config({"headlines.classifier.gpu": "true",
                                                   "headlines.classifier.gpu_instance_type": "ml.p4d.24xlarge"}))
    # a type without a throughput figure: the slowest assumption (a longer limit), never an error
    assert unknown.status == "info" and "on ml.p4d.24xlarge" in unknown.message
