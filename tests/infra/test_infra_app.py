"""app.py's wiring: both stacks always, the deploy-time model guard, overrides, the rehearsal synthesizer."""
from __future__ import annotations

import json

import pytest
from infra_support import synthesize

pytestmark = pytest.mark.xdist_group("infra")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("cdk-rehearsal"), {"headlines:rehearsal": "true"}, nag=False)


def test_both_stacks_are_synthesized_without_any_context(dev):
    """What plain `npx cdk list` / `cdk destroy --all` see: every stack the deploy creates."""
    assert sorted(dev.templates) == ["HeadlinesPipeline", "HeadlinesServing"]
    assert dev.context == {}


def test_serving_resolves_the_approved_model_at_deploy_time(dev):
    template = dev.templates["HeadlinesServing"]
    parameter = template["Parameters"]["ApprovedModel"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/headlines/dev/model/serving"
    (model,) = dev.resources("HeadlinesServing", "AWS::SageMaker::Model").values()
    split = {"Fn::Split": [" ", {"Ref": "ApprovedModel"}]}
    assert model["Properties"]["PrimaryContainer"]["ModelDataUrl"] == {"Fn::Select": [1, split]}
    assert template["Outputs"]["ModelVersion"]["Value"] == {"Fn::Select": [0, split]}


def test_a_deploy_before_any_approved_model_stops_with_one_line(dev):
    """The template rule fails the deploy before any resource changes while no model is approved."""
    (assertion,) = dev.templates["HeadlinesServing"]["Rules"]["ModelApproved"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApprovedModel"}, "none no-model-approved-yet"]}]}
    message = assertion["AssertDescription"]
    assert "\n" not in message and "headlines pipeline start --wait" in message and "HeadlinesServing" in message


def test_the_pointer_starts_as_none_in_the_pipeline_stack(dev):
    values = {p["Properties"]["Name"]: p["Properties"]["Value"] for p in dev.resources("HeadlinesPipeline", "AWS::SSM::Parameter").values()}
    # two fields like a real pointer, so Fn::Select of the URL cannot fail before the rule speaks
    assert values["/headlines/dev/model/serving"] == "none no-model-approved-yet"
    assert values["/headlines/dev/model/approved"] == "none"


def test_rehearsal_drops_the_bootstrap_version_rule(rehearsal):
    for template in rehearsal.templates.values():
        assert "CheckBootstrapVersion" not in template.get("Rules", {})
        assert "BootstrapVersion" not in template.get("Parameters", {})
    assert "ModelApproved" in rehearsal.templates["HeadlinesServing"]["Rules"]


def _app(context):
    import aws_cdk as cdk

    return cdk.App(context=context)


def test_config_overrides_come_from_dotted_context_keys():
    from infra.application import config_overrides

    app = _app({"headlines.serving.mode": "serverless", "other": "x"})
    assert config_overrides(app) == {"headlines.serving.mode": "serverless"}


@pytest.mark.parametrize("key", ["headlines:model_data_url", "headlines.model_data_url"])
def test_the_retired_model_context_stops_with_one_line(key):
    from infra.application import build

    with pytest.raises(SystemExit) as exc:
        build(_app({key: "approved"}), nag=False)
    message = str(exc.value)
    assert message.startswith(f"error: -c {key} is no longer read") and "\n" not in message


def test_cdk_json_runs_the_project_environment():
    from headlines.project import CDK_JSON

    assert json.loads(CDK_JSON.read_text())["app"] == ".venv/bin/python app.py"


def test_cdk_json_sets_every_flag_cdk_init_recommends():
    """The pinned CLI's `cdk init` flags (no "unconfigured feature flags" warning)."""
    from headlines.project import ROOT as REPO_ROOT
    from infra.application import cdk_json_context

    recommended = json.loads((REPO_ROOT / "node_modules/aws-cdk/lib/init-templates/.recommended-feature-flags.json").read_text())
    context = cdk_json_context()
    assert {key: context.get(key) for key in recommended} == recommended
