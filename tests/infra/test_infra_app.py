"""app.py's wiring: the serving-before-model guard, overrides, the rehearsal synthesizer."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from infra_support import MODEL_URL, synthesize

pytestmark = pytest.mark.xdist_group("infra-app")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """No model named, rehearsal synthesizer: the pipeline stack alone."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        synth = synthesize(tmp_path_factory.mktemp("cdk-rehearsal"), {"headlines:rehearsal": "true"}, nag=False)
    return synth, err.getvalue()


def test_without_a_model_only_the_pipeline_stack_is_synthesized(rehearsal):
    synth, stderr = rehearsal
    assert synth.built.serving is None
    assert sorted(synth.templates) == ["HeadlinesPipeline"]
    lines = [line for line in stderr.splitlines() if "HeadlinesServing" in line]
    assert len(lines) == 1
    assert "headlines pipeline start --wait" in lines[0]
    assert "npx cdk deploy HeadlinesServing -c headlines:model_data_url=approved" in lines[0]


def test_rehearsal_drops_the_bootstrap_version_rule(rehearsal):
    synth, _ = rehearsal
    template = synth.templates["HeadlinesPipeline"]
    assert "CheckBootstrapVersion" not in template.get("Rules", {})
    assert "BootstrapVersion" not in template.get("Parameters", {})


def _app(context):
    import aws_cdk as cdk

    return cdk.App(context=context)


def test_config_overrides_come_from_dotted_context_keys():
    from infra.application import config_overrides

    app = _app({"headlines.serving.mode": "serverless", "headlines:model_data_url": MODEL_URL, "other": "x"})
    assert config_overrides(app) == {"headlines.serving.mode": "serverless"}


@pytest.mark.parametrize("bad", ["s3://bucket/model.zip", "https://example.com/model.tar.gz", "s3://B/x.tar.gz"])
def test_a_malformed_model_url_stops_with_one_line(bad):
    from headlines.config import load_config
    from infra.application import resolve_model_data_url

    with pytest.raises(SystemExit) as exc:
        resolve_model_data_url(_app({"headlines:model_data_url": bad}), load_config(), "us-east-1")
    assert str(exc.value).startswith("error: headlines:model_data_url:") and "\n" not in str(exc.value)


def _stubbed_ssm():
    client = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_approved_reads_the_pipeline_parameter():
    from headlines.config import load_config
    from infra.application import read_approved_model

    client, stub = _stubbed_ssm()
    record = {"model_data_url": MODEL_URL, "metrics": {"test_macro_f1": 0.88}, "execution_id": "arn:x", "training_job_name": "j"}
    stub.add_response(
        "get_parameter",
        {"Parameter": {"Name": "/headlines/dev/model/approved", "Type": "String", "Value": json.dumps(record)}},
        {"Name": "/headlines/dev/model/approved"},
    )
    with stub:
        assert read_approved_model(load_config(), "us-east-1", lambda *a, **k: client) == MODEL_URL
    stub.assert_no_pending_responses()


def test_approved_before_any_model_stops_early_with_what_to_run():
    from headlines.config import load_config
    from infra.application import read_approved_model

    client, stub = _stubbed_ssm()
    stub.add_client_error("get_parameter", service_error_code="ParameterNotFound", http_status_code=400)
    with stub, pytest.raises(SystemExit) as exc:
        read_approved_model(load_config(), "us-east-1", lambda *a, **k: client)
    message = str(exc.value)
    assert "no model has been approved yet" in message and "headlines pipeline start --wait" in message
    assert "\n" not in message


def test_approved_with_a_broken_record():
    from headlines.config import load_config
    from infra.application import read_approved_model

    client, stub = _stubbed_ssm()
    stub.add_response("get_parameter", {"Parameter": {"Name": "n", "Type": "String", "Value": "{}"}})
    with stub, pytest.raises(SystemExit, match="does not hold an approval record"):
        read_approved_model(load_config(), "us-east-1", lambda *a, **k: client)


def test_approved_without_credentials():
    from botocore.exceptions import NoCredentialsError

    from headlines.config import load_config
    from infra.application import read_approved_model

    def factory(*args, **kwargs):
        raise NoCredentialsError()

    with pytest.raises(SystemExit, match="cannot read the approved model"):
        read_approved_model(load_config(), "us-east-1", factory)
