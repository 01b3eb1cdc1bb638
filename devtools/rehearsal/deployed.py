"""What CloudFormation (moto) says is deployed, read once for the checks."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from devtools.rehearsal.aws import EmulatorClients
from devtools.rehearsal.basics import short
from devtools.rehearsal.templates import StackTemplate, read_assembly


@dataclass
class Deployed:
    """What CloudFormation (moto) says is deployed, plus the templates and the CLI's outputs."""

    stacks: List[StackTemplate]
    status: Dict[str, str]
    resources: Dict[str, Dict[str, Tuple[str, str]]]  # stack -> logical -> (type, physical id)
    outputs: Dict[str, Dict[str, str]]                # from ``cdk deploy -O``
    exports: Dict[str, str]

    def physical(self, stack: str, logical: str) -> str:
        return self.resources.get(stack, {}).get(logical, ("", ""))[1]

    def of_type(self, resource_type: str) -> Iterator[Tuple[str, str, Dict[str, Any], str]]:
        """(stack, logical id, template resource, physical id) of every resource of a type."""
        for stack in self.stacks:
            for logical, resource in stack.of_type(resource_type).items():
                yield stack.name, logical, resource, self.physical(stack.name, logical)


def read_deployed(aws: EmulatorClients, out_dir: Path, outputs_path: Path) -> Deployed:
    stacks = read_assembly(out_dir)
    outputs: Dict[str, Dict[str, str]] = {}
    if outputs_path.exists():
        outputs = json.loads(outputs_path.read_text(encoding="utf-8"))
    status: Dict[str, str] = {}
    resources: Dict[str, Dict[str, Tuple[str, str]]] = {}
    for stack in stacks:
        try:
            described = aws.cloudformation.describe_stacks(StackName=stack.name)["Stacks"][0]
        except Exception as error:  # noqa: BLE001 - a missing stack is a finding, not a crash
            status[stack.name] = f"missing ({short(error)})"
            resources[stack.name] = {}
            continue
        status[stack.name] = described["StackStatus"]
        found = {}
        paginator = aws.cloudformation.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack.name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("LogicalResourceId"):
                    found[summary["LogicalResourceId"]] = (
                        summary["ResourceType"], summary.get("PhysicalResourceId") or "")
        resources[stack.name] = found
    exports = {e["Name"]: e["Value"] for e in aws.cloudformation.list_exports().get("Exports", [])}
    return Deployed(stacks, status, resources, outputs, exports)
