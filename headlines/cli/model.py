"""``headlines model list | show VERSION | approve VERSION | reject VERSION | rollback``.

The same commands on both registries: the work directory's (default) and, with ``--aws``, the
stage's SageMaker model package group (headlines/registry_aws.py). Each prints lines for a
person, or with ``--json`` the records as JSON. Approving is what moves serving: locally
``<workdir>/model`` at once; in AWS the EventBridge rule on the package's state change writes
the serving pointer that the next ``npx cdk deploy`` of the serving stack deploys.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List, Optional

from headlines import registry as reg


def _registry(args: argparse.Namespace) -> reg.Registry:
    if args.aws:
        from headlines.config import load_config
        from headlines.registry_aws import AwsRegistry

        overrides = {"headlines.stage": args.stage} if args.stage else {}
        return AwsRegistry.for_config(load_config(overrides), region=args.region)
    from headlines.local.registry import LocalRegistry

    return LocalRegistry(args.workdir)


def _print_records(records: List[reg.ModelRecord], current: Optional[reg.ModelRecord], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"serving": current.version if current else None,
                          "models": [record.as_json() for record in records]}, indent=1))
        return
    for record in records:
        print(record.line(current is not None and record.version == current.version))


def _list(args: argparse.Namespace, console: Any = None) -> int:
    registry = _registry(args)
    records = registry.records()
    if not records and not args.json:
        print(f"no model is registered in {registry.where}: headlines train registers one", file=sys.stderr)
        return 0
    _print_records(records, reg.serving(records), args.json)
    if not args.json:
        print("(* serves)", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace, console: Any = None) -> int:
    registry = _registry(args)
    record = reg.find(registry, args.version)
    if args.json:
        print(json.dumps(record.as_json(), indent=1))
        return 0
    current = reg.serving(registry.records())
    print(record.line(current is not None and current.version == record.version))
    print(f"  model data   {record.model_data_url}")
    print("  metrics      " + "  ".join(f"{key} {value:.4f}" for key, value in sorted(record.metrics.items())))
    print(f"  status       {record.status} ({record.description})" + (f", approved {record.approved_at}" if record.approved_at else ""))
    for key in (*reg.GATE_KEYS, *reg.LINEAGE_KEYS):
        if key in record.metadata:
            print(f"  {key:<17}{record.metadata[key]}")
    return 0


def _changed(args: argparse.Namespace, result: tuple) -> int:
    record, next_step = result
    if args.json:
        print(json.dumps(dict(record.as_json(), next=next_step), indent=1))
    else:
        print(f"model {record.version}: {record.status} ({record.description})")
        print(next_step)
    return 0


def _approve(args: argparse.Namespace, console: Any = None) -> int:
    return _changed(args, reg.approve(_registry(args), args.version))


def _reject(args: argparse.Namespace, console: Any = None) -> int:
    return _changed(args, reg.reject(_registry(args), args.version))


def _rollback(args: argparse.Namespace, console: Any = None) -> int:
    return _changed(args, reg.rollback(_registry(args)))


def register(subparsers: Any) -> None:
    """Add ``model list|show|approve|reject|rollback`` to the ``headlines`` command line."""
    model = subparsers.add_parser("model", help="the model registry: list, show, approve, reject, rollback")
    actions = model.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--workdir", type=Path, default=None, help="the local registry's work directory (default: ./.headlines)")
        parser.add_argument("--aws", action="store_true",
                            help="the deployed stage's SageMaker model package group instead of the local registry")
        parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION)")
        parser.add_argument("--stage", default=None, help="with --aws: the stage (default: cdk.json's)")

    for name, run, helptext, takes_version in (
        ("list", _list, "every registered model (* marks the one serving)", False),
        ("show", _show, "one model: metrics, gate figures, lineage", True),
        ("approve", _approve, "approve a model: it serves from now on", True),
        ("reject", _reject, "reject a model", True),
        ("rollback", _rollback, "reject the serving model and approve the one approved before it", False),
    ):
        parser = actions.add_parser(name, help=helptext)
        if takes_version:
            parser.add_argument("version", metavar="VERSION", help="the model version (or a unique prefix of it)")
        common(parser)
        parser.set_defaults(run=run, needs_console=False)
