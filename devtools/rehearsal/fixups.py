"""Rewrites of the synthesized templates, only for the emulator, each with why (docs/rehearsal.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from devtools.rehearsal.templates import moto_supported


def _fix_kms_key_tags(template: Dict[str, Any]) -> List[str]:
    """moto's CloudFormation KMS key fails on Key/Value tags (its tagger wants TagKey/TagValue)."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        tags = resource.get("Properties", {}).get("Tags") if resource.get("Type") == "AWS::KMS::Key" else None
        if tags and all("Key" in tag for tag in tags):
            resource["Properties"]["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags]
            changed.append(logical)
    return changed


# SageMaker types whose explicit name moto ignores (it generates one), with their name property.
SAGEMAKER_NAMES = {
    "AWS::SageMaker::Model": "ModelName",
    "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::NotebookInstance": "NotebookInstanceName",
    "AWS::SageMaker::NotebookInstanceLifecycleConfig": "NotebookInstanceLifecycleConfigName",
}


def _fix_sagemaker_names(template: Dict[str, Any]) -> List[str]:
    """Literal references to an explicitly named SageMaker resource become GetAtt of its name.

    moto ignores the explicit name and generates another, so a literal reference (say a
    variant's ``ModelName``) would name nothing; in AWS the two are the same string.
    """
    resources = template.get("Resources", {})
    names = {}
    for logical, resource in resources.items():
        prop = SAGEMAKER_NAMES.get(resource.get("Type", ""))
        value = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(value, str):
            names[value] = (logical, prop)
    changed: List[str] = []

    def rewrite(node: Any, owner: str, path: Tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: rewrite(v, owner, path + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v, owner, path) for v in node]
        if isinstance(node, str) and node in names and names[node][0] != owner:
            logical, prop = names[node]
            if SAGEMAKER_NAMES.get(resources[owner].get("Type", "")) or path[-1:] != ("Tags",):
                changed.append(f"{owner}.{'.'.join(path)}")
                return {"Fn::GetAtt": [logical, prop]}
        return node

    if names:
        for logical, resource in resources.items():
            if "Properties" in resource:
                resource["Properties"] = rewrite(resource["Properties"], logical, ())
    return changed


def _fix_unemulated_getatt(template: Dict[str, Any]) -> List[str]:
    """A GetAtt of a resource moto skips (here AWS::SageMaker::CodeRepository) becomes the
    literal value of that resource's same-named property, which is what AWS would return."""
    resources = template.get("Resources", {})
    skipped = {logical for logical, resource in resources.items() if not moto_supported(resource.get("Type", ""))}
    changed: List[str] = []

    def rewrite(node: Any, owner: str, path: Tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            target = node.get("Fn::GetAtt") if len(node) == 1 else None
            if isinstance(target, list) and len(target) == 2 and target[0] in skipped:
                literal = resources[target[0]].get("Properties", {}).get(target[1])
                if isinstance(literal, str):
                    changed.append(f"{owner}.{'.'.join(path)}")
                    return literal
            return {k: rewrite(v, owner, path + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v, owner, path) for v in node]
        return node

    if skipped:
        for logical, resource in resources.items():
            if "Properties" in resource and logical not in skipped:
                resource["Properties"] = rewrite(resource["Properties"], logical, ())
    return changed


def _fix_ssm_parameter_tags(template: Dict[str, Any]) -> List[str]:
    """``AWS::SSM::Parameter`` Tags (a map in CloudFormation) as a Key/Value list: moto's handler
    passes them to PutParameter, which wants the list, and fails on the map."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        tags = resource.get("Properties", {}).get("Tags") if resource.get("Type") == "AWS::SSM::Parameter" else None
        if isinstance(tags, dict):
            resource["Properties"]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            changed.append(logical)
    return changed


def _fix_integration_fields(template: Dict[str, Any]) -> List[str]:
    """moto's CloudFormation Method requires IntegrationHttpMethod and Uri (CORS MOCK methods have neither)."""
    changed = []
    for logical, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        integration = props.get("Integration") if resource.get("Type") == "AWS::ApiGateway::Method" else None
        if isinstance(integration, dict) and ("IntegrationHttpMethod" not in integration or "Uri" not in integration):
            integration.setdefault("IntegrationHttpMethod", props.get("HttpMethod", "POST"))
            integration.setdefault("Uri", "")
            changed.append(logical)
    return changed


# Rewrites of the synthesized templates, only for the emulator, each with why (docs/rehearsal.md).
EMULATOR_FIXUPS: List[Tuple[str, str, Callable[[Dict[str, Any]], List[str]]]] = [
    ("kms-key-tags", "AWS::KMS::Key Tags rewritten as TagKey/TagValue: moto's CloudFormation fails on "
                     "the Key/Value form and reports the key as an undefined resource", _fix_kms_key_tags),
    ("sagemaker-names", "a literal SageMaker resource name rewritten as GetAtt of that resource's name: moto "
                        "ignores explicit SageMaker names (it generates its own), so the literal names nothing",
     _fix_sagemaker_names),
    ("integration-fields", "IntegrationHttpMethod and an empty Uri added to an integration without them (the "
                           "MOCK integrations of CORS preflights): moto's CloudFormation Method fails without them",
     _fix_integration_fields),
    ("unemulated-getatt", "a GetAtt of a resource type moto's CloudFormation skips (AWS::SageMaker::CodeRepository) "
                          "rewritten as the literal name it would return", _fix_unemulated_getatt),
    ("ssm-parameter-tags", "AWS::SSM::Parameter Tags rewritten from a map to a Key/Value list: moto's "
                           "CloudFormation handler fails on the map", _fix_ssm_parameter_tags),
]


def apply_fixups(out_dir: Path) -> List[str]:
    """Apply EMULATOR_FIXUPS to the templates of an assembly in place; what was changed."""
    applied = []
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        path = out_dir / artifact["properties"]["templateFile"]
        template = json.loads(path.read_text(encoding="utf-8"))
        notes = []
        for name, _why, fixup in EMULATOR_FIXUPS:
            notes += [f"{name}: {artifact_id}/{logical}" for logical in fixup(template)]
        if notes:
            path.write_text(json.dumps(template, indent=1), encoding="utf-8")
            applied += notes
    return applied
