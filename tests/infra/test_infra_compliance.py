"""cdk-nag and cfn-lint over the synthesized assembly."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.xdist_group("infra")


def test_cdk_nag_reports_nothing(dev):
    # A violation (error or warning) interrupts app.synth(), so reaching here already proves a
    # clean run; the report the validation framework writes must be empty too.
    report = json.loads((dev.outdir / "validation-report.json").read_text())
    violations = [v for plugin in report.get("pluginReports", []) for v in plugin.get("violations", [])]
    assert violations == []


def test_no_error_or_warning_annotations(dev):
    manifest = json.loads((dev.outdir / "manifest.json").read_text())
    problems = [
        (artifact, path, entry["type"], entry.get("data"))
        for artifact, spec in manifest["artifacts"].items()
        for path, entries in spec.get("metadata", {}).items()
        for entry in entries
        if entry["type"] in ("aws:cdk:error", "aws:cdk:warning")
    ]
    assert problems == []


def test_every_acknowledgment_has_a_reason(dev):
    import aws_cdk as cdk

    app = dev.built.pipeline.node.root
    count = 0
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    count += 1
                    assert len(str(reason).strip()) >= 20, rule
    assert count > 10


def test_cfn_lint_finds_no_error_in_any_template(dev):
    from cfnlint.api import ManualArgs, lint_file

    templates = sorted(dev.outdir.glob("*.template.json"))
    assert len(templates) == 2
    errors = []
    for path in templates:
        for match in lint_file(path, ManualArgs(regions=["us-east-1"])):
            if match.rule.id.startswith("E"):
                errors.append(f"{path.name}: {match}")
    assert errors == []


def test_nag_is_active_on_the_whole_app(tmp_path):
    """A non-compliant bucket added to the app makes synthesis fail with AwsSolutions findings."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from infra.application import build, cdk_json_context

    ctx = cdk_json_context()
    ctx["headlines.notebook.enabled"] = "false"
    app = cdk.App(outdir=str(tmp_path), context=ctx)
    built = build(app)
    s3.Bucket(built.serving, "Careless")
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
