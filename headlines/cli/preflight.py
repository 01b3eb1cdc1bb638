"""``headlines preflight [--region R] [--json] [-c KEY=VALUE ...]``: read-only checks of the AWS
account before a deploy (headlines/preflight.py; docs/preflight.md).

The configuration checked is the one ``cdk deploy`` would deploy: cdk.json with the same
``-c headlines.a.b=value`` overrides (``-c region=R`` picks the region as it does for the app).
One line per check; exit 0 when nothing would fail the deploy, 1 when something would, 2 for
a usage or credentials problem (one ``error:`` line).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Optional, TextIO, Tuple

from headlines.errors import UserError

if TYPE_CHECKING:
    from headlines.preflight import Clients, Report


def _setting(text: str) -> Tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key, value


def create_clients(region: Optional[str]) -> "Clients":
    """The checks' boto3 clients, from the user's credentials (profile, environment, SSO...)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    from headlines.preflight import Clients

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    try:
        session = boto3.session.Session(region_name=region)
    except BotoCoreError as error:  # e.g. AWS_PROFILE names no profile
        raise UserError(f"{error}") from None
    if not session.region_name:
        raise UserError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return Clients.from_session(session, config)


def report_for(args: argparse.Namespace) -> "Report":
    """The checks' report for the parsed options (``args.clients``/``args.opener``: injected ones)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from headlines import preflight as checks
    from headlines.cli.pipeline import _aws_error  # the command line's one wording of AWS failures
    from headlines.config import load_config

    overrides = dict(args.context)
    cfg = load_config(overrides)  # a bad setting: ConfigError, one line and exit 2 (headlines.errors)
    clients = getattr(args, "clients", None) or create_clients(args.region or overrides.get("region"))
    try:
        account = checks.identify(clients.sts)
    except (ClientError, BotoCoreError) as error:  # no, expired or invalid credentials; no endpoint
        raise UserError(str(_aws_error(error, "reading the caller's identity (sts get-caller-identity)").code)
                        .removeprefix("error: ")) from None
    return checks.run_checks(clients, account, cfg, opener=getattr(args, "opener", None))


def preflight(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from headlines import preflight as checks

    report = report_for(args)
    out = out or sys.stdout
    if args.json:
        print(json.dumps(checks.as_json(report), indent=2), file=out)
    else:
        for line in checks.lines(report):
            print(line, file=out, flush=True)
    return report.exit_status


def _run(args: argparse.Namespace, console: Any = None) -> int:
    return preflight(args)


def register(subparsers: Any) -> None:
    """Add ``preflight`` to the ``headlines`` command line."""
    parser = subparsers.add_parser(
        "preflight", help="read-only checks of the AWS account before a deploy (bootstrap, quotas, images, ...)",
        description="Read-only checks of the target AWS account with your credentials, before anything is deployed: "
                    "one line per check, each failure with its fix. Exit 0: nothing would fail; 1: something would; "
                    "2: usage or credentials.")
    parser.add_argument("--region", help="AWS region (default: -c region=..., AWS_REGION, your AWS config)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    parser.add_argument("-c", "--context", dest="context", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a setting as cdk deploy takes it (repeatable), e.g. -c headlines.serving.mode=serverless")
    parser.set_defaults(run=_run, needs_console=False)
