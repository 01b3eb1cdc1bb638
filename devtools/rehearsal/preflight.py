"""``headlines preflight`` against the emulated account, after the bootstrap and before the first deploy.

The command runs in this process (headlines/cli/preflight.py's ``preflight`` with the options
parsed by the real command line) with the emulator's clients injected, and offline: the
notebook repository's git probe is answered "not probed" instead of reaching the internet.
Before it, the rehearsal sets API Gateway's account logging role as a user following the
preflight's fix would (``aws apigateway update-account ...``). The preflight must then find
nothing that would fail the deploy; what it cannot check must be a known emulator gap.
"""
from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Mapping

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.basics import RehearsalError, say

if TYPE_CHECKING:
    from headlines.preflight import Report

LOGGING_ROLE = "headlines-rehearsal-apigateway-logs"
LOGGING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"

# What the preflight cannot check against moto 5.2.5 (a ``?`` line, no failure), by check.
PREFLIGHT_GAPS = {
    "quota": "moto implements no Service Quotas ListServiceQuotas (and no SageMaker defaults)",
    "deploy-role": "moto implements no iam:SimulatePrincipalPolicy, and keeps the inline policies of a role its "
                   "CloudFormation created (the bootstrap's deploy role) as a Python repr, not JSON",
    "notebook-repository": "the rehearsal stays offline: the git probe is not sent",
}


def set_api_logging_role(aws: EmulatorClients) -> str:
    """The fix the preflight names for an account without API Gateway's CloudWatch logging role."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam = aws.iam
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=LOGGING_ROLE, AssumeRolePolicyDocument=json.dumps(trust),
                        Description="API Gateway's CloudWatch logging role (set by devtools.rehearsal)")
    # moto knows AWS's managed policies only when told to load them: attach it where it can.
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.attach_role_policy(RoleName=LOGGING_ROLE, PolicyArn=LOGGING_POLICY)
    arn = iam.get_role(RoleName=LOGGING_ROLE)["Role"]["Arn"]
    aws.apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
    return arn


def _offline(request: urllib.request.Request, timeout: float) -> Any:
    raise urllib.error.URLError("not probed: the rehearsal stays offline")


def run_preflight(aws: EmulatorClients, context: Mapping[str, str]) -> "Report":
    """``headlines preflight -c K=V ...`` against the emulator: its report (headlines.preflight.Report)."""
    from headlines import preflight as checks
    from headlines.cli import commands
    from headlines.cli import preflight as preflight_cli

    args = commands.build_parser().parse_args(["preflight", *[f"--context={k}={v}" for k, v in context.items()]])
    args.clients = checks.Clients(sts=aws.sts, cloudformation=aws.cloudformation, ssm=aws.ssm, iam=aws.iam,
                                  service_quotas=aws.service_quotas, apigateway=aws.apigateway)
    args.opener = _offline
    return preflight_cli.report_for(args)


def preflight_phase(aws: EmulatorClients, context: Mapping[str, str]) -> None:
    arn = set_api_logging_role(aws)
    say(f"  API Gateway's CloudWatch logging role set as the preflight's fix says: {arn}")
    from headlines.preflight import FAIL, UNKNOWN, lines

    report = run_preflight(aws, context)
    text = list(lines(report))
    for line in text[1:]:
        say(f"  {line}")
    failed = [r for r in report.results if r.status == FAIL]
    if report.exit_status != 0 or failed:
        raise RehearsalError(f"headlines preflight exits {report.exit_status}: "
                             f"{failed[0].message if failed else text[-1]}", text)
    gaps = sorted({r.check for r in report.results if r.status == UNKNOWN})
    unexplained = [check for check in gaps if check not in PREFLIGHT_GAPS]
    if unexplained:
        raise RehearsalError(f"headlines preflight could not check {', '.join(unexplained)}, which is no known "
                             "emulator gap", text)
    for check in gaps:
        say(f"  GAP   preflight {check}: {PREFLIGHT_GAPS[check]}")
