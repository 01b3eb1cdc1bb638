"""Builds the CDK app from context: config overrides, region, cdk-nag.

``app.py`` calls :func:`build`; the tests call it too, with their own context.

Both stacks are always synthesized, so ``cdk list`` names them and ``cdk destroy --all``
removes them. The serving stack does not read the model at synth time: it resolves the SSM
parameter ``/<project>/<stage>/model/serving`` (``<model_version> <model_data_url>``, written by
the pipeline) through a CloudFormation parameter of type ``AWS::SSM::Parameter::Value<String>``
when CloudFormation deploys it, and a template rule stops that deploy with one line while no
model is approved yet (infra/serving.py). ``cdk synth`` therefore needs no AWS access.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from headlines.config import CONTEXT_KEY, HeadlinesConfig, load_config
from headlines.naming import CONTEXT_REHEARSAL, pipeline_stack_name, serving_stack_name
from headlines.project import CDK_JSON
from infra import nag as nag_rules
from infra.retention import Retention
from infra.service_logs import FunctionLogGroups
from infra.stacks import PipelineStack, ServingStack

DEFAULT_REGION = "us-east-1"
# Context keys of earlier versions that chose the model at synth time.
_RETIRED_KEYS = ("headlines:model_data_url", CONTEXT_KEY + ".model_data_url")


@dataclass
class Built:
    cfg: HeadlinesConfig
    pipeline: PipelineStack
    serving: ServingStack


def cdk_json_context() -> Dict[str, Any]:
    """The feature flags of cdk.json (what the CDK CLI passes to app.py), for tests and tools."""
    with CDK_JSON.open(encoding="utf-8") as handle:
        context = json.load(handle)["context"]
    return {key: value for key, value in context.items() if key != CONTEXT_KEY}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes"))


def config_overrides(app: cdk.App) -> Dict[str, Any]:
    """Every ``-c headlines.a.b=value`` given to the CLI (or to the App's context)."""
    context = app.node.get_all_context()
    return {
        key: value
        for key, value in context.items()
        if key.startswith(CONTEXT_KEY + ".") and key not in _RETIRED_KEYS
    }


def _reject_retired_context(app: cdk.App, cfg: HeadlinesConfig) -> None:
    for key in _RETIRED_KEYS:
        if app.node.try_get_context(key) is not None:
            raise SystemExit(
                f"error: -c {key} is no longer read: {serving_stack_name(cfg)} deploys the model the pipeline "
                f"approved (SSM /{cfg.project_name}/{cfg.stage}/model/serving); run "
                f'"npx cdk deploy {serving_stack_name(cfg)}" without it'
            )


def build(app: cdk.App, *, nag: bool = True) -> Built:
    cfg = load_config(config_overrides(app))
    _reject_retired_context(app, cfg)
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)
    common: Dict[str, Any] = dict(env=env)
    rehearsal = _truthy(app.node.try_get_context(CONTEXT_REHEARSAL))

    def synthesizer() -> Dict[str, Any]:
        # Offline deploy rehearsal against moto: no BootstrapVersion rule (moto fails updates on it).
        return dict(synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False)) if rehearsal else {}

    pipeline = PipelineStack(app, pipeline_stack_name(cfg), cfg=cfg, stack_name=pipeline_stack_name(cfg), **common, **synthesizer())
    serving = ServingStack(
        app, serving_stack_name(cfg), cfg=cfg, pipeline=pipeline, stack_name=serving_stack_name(cfg), **common, **synthesizer()
    )
    for key, value in {"project": cfg.project_name, "stage": cfg.stage}.items():
        cdk.Tags.of(app).add(key, value)
    # CDK's own provider functions get log groups of their stack (infra/service_logs.py).
    for stack in (pipeline, serving):
        cdk.Aspects.of(stack).add(FunctionLogGroups(Retention.of_stage(cfg.retain_data)), priority=cdk.AspectPriority.MUTATING)
    if nag:
        nag_rules.acknowledge_wildcards(app)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return Built(cfg=cfg, pipeline=pipeline, serving=serving)
