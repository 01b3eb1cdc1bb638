"""The synthesized cloud assembly: its stacks' templates, and what moto's CloudFormation can create."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Set

from devtools.rehearsal.basics import RehearsalError


@dataclass
class StackTemplate:
    name: str
    template: Dict[str, Any]

    @property
    def resources(self) -> Dict[str, Dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, resource_type: str) -> Dict[str, Dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}


def read_assembly(out_dir: Path) -> List[StackTemplate]:
    """The app's stacks, in the cloud assembly's order, from ``cdk.out/manifest.json``."""
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.exists():
        raise RehearsalError(f"no cloud assembly at {out_dir} (deploy first)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    stacks = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        template = json.loads((out_dir / props["templateFile"]).read_text(encoding="utf-8"))
        stacks.append(StackTemplate(props.get("stackName", artifact_id), template))
    if not stacks:
        raise RehearsalError(f"the cloud assembly at {out_dir} has no stacks")
    return stacks


def moto_supported(resource_type: str) -> bool:
    from moto.cloudformation import parsing

    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return True
    if resource_type in getattr(parsing, "NULL_MODELS", ()):
        return False
    return resource_type in parsing.get_model_map()


def references(value: Any) -> Set[str]:
    """Logical ids that a piece of template refers to (Ref, GetAtt, Sub)."""
    found: Set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                if isinstance(text, str):
                    found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                found |= references(inner)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def is_custom_resource(resource_type: str) -> bool:
    return resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource"


def providers(stack: StackTemplate) -> Set[str]:
    """Logical ids of the functions that serve custom resources (CDK's own, e.g. auto-delete)."""
    return {target for resource in stack.resources.values() if is_custom_resource(resource.get("Type", ""))
            for target in references(resource.get("Properties", {}).get("ServiceToken"))}
