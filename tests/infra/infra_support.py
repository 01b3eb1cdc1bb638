"""Helpers of the CDK synthesis tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.pop("CDK_DEFAULT_ACCOUNT", None)  # account-agnostic templates, whatever the shell has
os.environ.pop("CDK_DEFAULT_REGION", None)



@dataclass
class Synth:
    outdir: Path
    built: Any
    templates: Dict[str, Dict[str, Any]]
    context: Dict[str, Any]

    @property
    def pipeline_name(self) -> str:
        return self.built.pipeline.stack_name

    @property
    def serving_name(self) -> Optional[str]:
        return self.built.serving.stack_name if self.built.serving else None

    def template(self, stack_name: str):
        from aws_cdk.assertions import Template

        return Template.from_json(self.templates[stack_name])

    def resources(self, stack_name: str, type_: str) -> Dict[str, Dict[str, Any]]:
        return {k: v for k, v in self.templates[stack_name]["Resources"].items() if v["Type"] == type_}


def synthesize(outdir: Path, context: Dict[str, Any], nag: bool = True) -> Synth:
    """Build the app exactly as app.py does (cdk.json feature flags + the given context)."""
    import aws_cdk as cdk

    from infra.application import build, cdk_json_context

    ctx = cdk_json_context()
    ctx.update(context)
    app = cdk.App(outdir=str(outdir), context=ctx)
    built = build(app, nag=nag)
    assembly = app.synth()  # cdk-nag violations interrupt synthesis here (ValidationFailed)
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return Synth(outdir=outdir, built=built, templates=templates, context=dict(context))


def state_machine_definition(template: Dict[str, Any]) -> Dict[str, Any]:
    """The ASL of the (only) state machine, tokens replaced by placeholders."""
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 1
    definition = machines[0]["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        parts = definition["Fn::Join"][1]
        definition = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    return json.loads(definition)


