"""Builds the CDK app from context: config overrides, region, the model to serve, cdk-nag.

``app.py`` calls :func:`build`; the tests call it too, with their own context.

The serving stack needs a model. It is synthesized only when one is named:

- ``-c headlines:model_data_url=s3://bucket/.../model.tar.gz``: that artifact; or
- ``-c headlines:model_data_url=approved``: the model the pipeline approved last, read from
  the SSM parameter ``/<project>/<stage>/model/approved`` when the app synthesizes (so at
  ``cdk deploy`` time). No such parameter yet: the app stops with one line saying what to run
  first, before anything reaches CloudFormation.

Without either, the pipeline stack alone is synthesized and one line on stderr says how to
deploy serving; ``cdk synth`` and ``cdk deploy <prefix>Pipeline`` work offline that way.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from headlines.config import CDK_JSON, CONTEXT_KEY, HeadlinesConfig, load_config
from infra.naming import (
    APPROVED,
    CONTEXT_MODEL_DATA_URL,
    CONTEXT_REHEARSAL,
    approved_model_parameter,
    pipeline_stack_name,
    serving_stack_name,
)
from infra import nag as nag_rules
from infra.serving import parse_model_data_url
from infra.stacks import PipelineStack, ServingStack

DEFAULT_REGION = "us-east-1"
_MODEL_KEYS = (CONTEXT_MODEL_DATA_URL, CONTEXT_KEY + ".model_data_url")


@dataclass
class Built:
    cfg: HeadlinesConfig
    pipeline: PipelineStack
    serving: Optional[ServingStack]


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
        if key.startswith(CONTEXT_KEY + ".") and key not in _MODEL_KEYS
    }


def read_approved_model(cfg: HeadlinesConfig, region: str, client_factory: Optional[Callable[..., Any]] = None) -> str:
    """The ``model_data_url`` of the approval record in SSM; SystemExit with one line otherwise."""
    name = approved_model_parameter(cfg)
    first = (
        f'run "headlines pipeline start --wait" first, then deploy serving again '
        f'(or pass -c {CONTEXT_MODEL_DATA_URL}=s3://.../model.tar.gz)'
    )
    try:
        if client_factory is None:
            import boto3

            client_factory = boto3.client
        client = client_factory("ssm", region_name=region)
        value = client.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:  # botocore errors: no credentials, not found, access denied...
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        if code == "ParameterNotFound":
            raise SystemExit(f"error: no model has been approved yet ({name} does not exist in {region}): {first}")
        raise SystemExit(f"error: cannot read the approved model from SSM {name} in {region} ({exc}); {first}")
    try:
        url = json.loads(value)["model_data_url"]
        parse_model_data_url(url)
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"error: {name} does not hold an approval record with a model_data_url: {value[:200]}")
    return url


def resolve_model_data_url(app: cdk.App, cfg: HeadlinesConfig, region: str) -> Optional[str]:
    raw = next((app.node.try_get_context(key) for key in _MODEL_KEYS if app.node.try_get_context(key)), None)
    if not raw:
        print(
            f"note: {serving_stack_name(cfg)} is not synthesized: no model named. Once "
            f'"headlines pipeline start --wait" has approved one, deploy it with '
            f'"npx cdk deploy {serving_stack_name(cfg)} -c {CONTEXT_MODEL_DATA_URL}={APPROVED}" '
            f"(or ={'s3://.../model.tar.gz'}).",
            file=sys.stderr,
        )
        return None
    raw = str(raw).strip()
    if raw == APPROVED:
        return read_approved_model(cfg, region)
    try:
        parse_model_data_url(raw)
    except ValueError as exc:
        raise SystemExit(f"error: {CONTEXT_MODEL_DATA_URL}: {exc}")
    return raw


def build(app: cdk.App, *, nag: bool = True) -> Built:
    cfg = load_config(config_overrides(app))
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)
    common: Dict[str, Any] = dict(env=env)
    if _truthy(app.node.try_get_context(CONTEXT_REHEARSAL)):
        # Offline deploy rehearsal against moto: no BootstrapVersion rule (moto fails updates on it).
        common["synthesizer"] = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False)

    tags = {"project": cfg.project_name, "stage": cfg.stage}
    pipeline = PipelineStack(app, pipeline_stack_name(cfg), cfg=cfg, stack_name=pipeline_stack_name(cfg), **common)
    serving = None
    model_data_url = resolve_model_data_url(app, cfg, region)
    if model_data_url:
        if "synthesizer" in common:
            common["synthesizer"] = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False)
        serving = ServingStack(
            app,
            serving_stack_name(cfg),
            cfg=cfg,
            model_data_url=model_data_url,
            pipeline=pipeline,
            stack_name=serving_stack_name(cfg),
            **common,
        )
    for key, value in tags.items():
        cdk.Tags.of(app).add(key, value)
    if nag:
        nag_rules.acknowledge_wildcards(app)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return Built(cfg=cfg, pipeline=pipeline, serving=serving)
