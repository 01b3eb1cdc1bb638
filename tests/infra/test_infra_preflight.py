"""What ``headlines preflight`` assumes of the synthesized app: the bootstrap version it needs
and the SSM-typed parameter the deploy role resolves."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from headlines import preflight
from headlines.config import load_config
from headlines.naming import serving_model_parameter

pytestmark = pytest.mark.xdist_group("infra")


def _versions(node: Any) -> Iterator[int]:
    """Every requiresBootstrapStackVersion in the manifest (the stacks', the asset manifests', the lookup role's)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "requiresBootstrapStackVersion":
                yield int(value)
            else:
                yield from _versions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _versions(item)


def test_the_required_bootstrap_version_is_the_assemblys(dev):
    manifest = json.loads((dev.outdir / "manifest.json").read_text(encoding="utf-8"))
    assert max(_versions(manifest["artifacts"])) == preflight.REQUIRED_BOOTSTRAP_VERSION
    for artifact in manifest["artifacts"].values():
        properties = artifact.get("properties", {})
        if "bootstrapStackVersionSsmParameter" in properties:
            assert properties["bootstrapStackVersionSsmParameter"] == preflight.BOOTSTRAP_VERSION_PARAMETER
        if "assumeRoleArn" in properties:  # the role cdk deploy works with: the one the preflight checks
            assert f"role/cdk-{preflight.BOOTSTRAP_QUALIFIER}-deploy-role-" in properties["assumeRoleArn"]


def test_the_serving_stack_resolves_the_parameter_the_deploy_role_check_names(dev):
    ssm_typed = {name: spec["Default"] for name, spec in dev.templates["HeadlinesServing"]["Parameters"].items()
                 if spec["Type"].startswith("AWS::SSM::Parameter::Value") and name != "BootstrapVersion"}
    assert list(ssm_typed.values()) == [serving_model_parameter(load_config())]
    for stack in ("HeadlinesPipeline",):  # the pipeline stack resolves none: its deploy needs no SSM read
        assert not [name for name, spec in dev.templates[stack].get("Parameters", {}).items()
                    if spec["Type"].startswith("AWS::SSM::Parameter::Value") and name != "BootstrapVersion"]
