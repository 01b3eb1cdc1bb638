"""The offline deploy rehearsal (devtools/rehearsal/, docs/rehearsal.md).

- fast: the emulator's lifecycle, the template rewrites for the emulator, the teardown
  classification;
- slow, against a real ``moto_server`` on loopback and the project's pinned CDK CLI: a deployed
  app whose resources are then tampered with makes the check phase fail with one clear line and
  a non-zero exit; and the whole rehearsal (``make rehearse``) passes end to end.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from devtools import rehearsal
from devtools.rehearsal import fixups
from headlines.project import ROOT as REPO_ROOT

CDK_MISSING = not rehearsal.cdk_cli().exists()
needs_cdk = pytest.mark.skipif(CDK_MISSING, reason=f"the pinned CDK CLI is not installed ({rehearsal.cdk_cli()}); "
                                                   "run `make install` (npm ci)")


def _run(args, timeout):
    """``python -m devtools.rehearsal ARGS``; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "devtools.rehearsal", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def _failure_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("rehearsal failed in ")]


# ----------------------------------------------------------------------------- fast

def test_emulator_starts_on_a_free_port_answers_and_stops(tmp_path):
    emulator = rehearsal.Emulator(tmp_path / "moto.log")
    with emulator:
        assert emulator.url.startswith("http://localhost:")
        s3 = boto3.client("s3", endpoint_url=emulator.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="answers")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["answers"]
        process, port = emulator.process, emulator.port
    assert process.poll() is not None, "moto_server still running after stop"
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the port still answers after stop"


def test_emulator_fixups_rewrite_only_what_moto_cannot_take():
    template = {"Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"Tags": [{"Key": "project", "Value": "headlines"}]}},
        "Model": {"Type": "AWS::SageMaker::Model", "Properties": {"ModelName": "headlines-dev-abc"}},
        "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {
            "EndpointConfigName": "headlines-dev-cfg",
            "ProductionVariants": [{"ModelName": "headlines-dev-abc", "VariantName": "AllTraffic"}]}},
        "Options": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "HttpMethod": "OPTIONS", "Integration": {"Type": "MOCK"}}},
        "Post": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "HttpMethod": "POST", "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": "arn:x"}}},
    }}
    assert fixups._fix_kms_key_tags(template) == ["Key"]
    assert template["Resources"]["Key"]["Properties"]["Tags"] == [{"TagKey": "project", "TagValue": "headlines"}]
    assert fixups._fix_sagemaker_names(template) == ["Config.ProductionVariants.ModelName"]
    variant = template["Resources"]["Config"]["Properties"]["ProductionVariants"][0]
    assert variant == {"ModelName": {"Fn::GetAtt": ["Model", "ModelName"]}, "VariantName": "AllTraffic"}
    # the resource's own name is left alone
    assert template["Resources"]["Model"]["Properties"]["ModelName"] == "headlines-dev-abc"
    assert fixups._fix_integration_fields(template) == ["Options"]
    assert template["Resources"]["Options"]["Properties"]["Integration"] == {
        "Type": "MOCK", "IntegrationHttpMethod": "OPTIONS", "Uri": ""}
    # a second pass changes nothing
    assert all(f(template) == [] for _, _, f in fixups.EMULATOR_FIXUPS)


def test_emulator_fixups_for_the_code_repository_and_parameter_tags():
    template = {"Resources": {
        "Repo": {"Type": "AWS::SageMaker::CodeRepository", "Properties": {"CodeRepositoryName": "headlines-dev-project"}},
        "Notebook": {"Type": "AWS::SageMaker::NotebookInstance", "Properties": {
            "DefaultCodeRepository": {"Fn::GetAtt": ["Repo", "CodeRepositoryName"]}}},
        "Pointer": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "none", "Tags": {"stage": "dev"}}},
    }}
    assert fixups._fix_unemulated_getatt(template) == ["Notebook.DefaultCodeRepository"]
    assert template["Resources"]["Notebook"]["Properties"]["DefaultCodeRepository"] == "headlines-dev-project"
    assert fixups._fix_ssm_parameter_tags(template) == ["Pointer"]
    assert template["Resources"]["Pointer"]["Properties"]["Tags"] == [{"Key": "stage", "Value": "dev"}]


def test_the_approval_stand_in_writes_what_the_publish_step_writes():
    """The pointer's format is the one the serving stack splits: '<model_version> <model_data_url>'."""
    from headlines.naming import serving_model_value

    version = rehearsal.placeholder_version(0)
    assert len(version) == 16 and int(version, 16) >= 0
    assert serving_model_value(version, "s3://b/k/model.tar.gz").split(" ") == [version, "s3://b/k/model.tar.gz"]
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(rehearsal.placeholder_artifact(1)), mode="r:gz") as tar:
        assert json.load(tar.extractfile("metrics.json"))["model_version"] == rehearsal.placeholder_version(1)


def test_teardown_explains_known_gaps_and_flags_the_rest():
    stack = rehearsal.StackTemplate("App", {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi"},
            "LogsRole": {"Type": "AWS::IAM::Role", "DeletionPolicy": "Retain"},
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Fn": {"Type": "AWS::Lambda::Function"},
        },
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    })
    owned = [rehearsal.Owned("App", "Api", "AWS::ApiGateway::RestApi", "abc123"),
             rehearsal.Owned("App", "LogsRole", "AWS::IAM::Role", "App-LogsRole-1"),
             rehearsal.Owned("App", "Topic", "AWS::SNS::Topic", "arn:aws:sns:us-east-1:123456789012:App-Topic-1"),
             rehearsal.Owned("App", "Bucket", "AWS::S3::Bucket", "app-bucket-1"),
             rehearsal.Owned("App", "Fn", "AWS::Lambda::Function", "App-Fn-1")]
    before = {"s3 bucket": {"cdk-assets"}}
    deployed = {"api gateway rest api": {"abc123"}, "iam role": {"App-LogsRole-1"}, "s3 bucket": {"cdk-assets", "app-bucket-1"},
                "sns topic": {"arn:aws:sns:us-east-1:123456789012:App-Topic-1"}, "log group": {"/aws/lambda/App-Fn-1"}}
    after = {"api gateway rest api": {"abc123"}, "iam role": {"App-LogsRole-1"},
             "sns topic": {"arn:aws:sns:us-east-1:123456789012:App-Topic-2"},  # a new one, made during the destroy
             "s3 bucket": {"app-bucket-1"},  # the deployed bucket survived; cdk-assets went missing
             "log group": {"/aws/lambda/App-Fn-1"}}
    leftovers, missing = rehearsal.classify_leftovers(before, deployed, after, [stack], owned)
    gaps = {(item.kind, item.ident): item.gap for item in leftovers}
    assert gaps == {
        ("api gateway rest api", "abc123"): "restapi-not-deleted",
        ("iam role", "App-LogsRole-1"): "retained",
        ("sns topic", "arn:aws:sns:us-east-1:123456789012:App-Topic-2"): "recreated-by-outputs",
        ("s3 bucket", "app-bucket-1"): None,
        ("log group", "/aws/lambda/App-Fn-1"): "runtime-log-group",
    }
    assert missing == ["s3 bucket: cdk-assets"]


def test_the_routes_expected_come_from_the_openapi_contract():
    assert rehearsal.expected_routes() == {("POST", "/v1/classify"), ("GET", "/v1/health"),
                                           ("GET", "/"), ("GET", "/static/{file}")}  # the page and its files


def test_unknown_phase_is_refused_before_anything_starts():
    code, _out, err = _run(["--phases", "deploy,launch"], timeout=60)
    assert code == 2 and "unknown phases ['launch']" in err


# ----------------------------------------------------------------------------- slow

@pytest.fixture
def deployed_app(tmp_path):
    """The real app deployed to a fresh moto_server, with the rehearsal's own phases."""
    emulator = rehearsal.Emulator(tmp_path / "moto.log").start()
    try:
        workdir = tmp_path / "work"
        code, out, err = _run(["--endpoint-url", emulator.url, "--workdir", str(workdir),
                               "--phases", "bootstrap,synth,stage,deploy"], timeout=300)
        assert code == 0, f"deploy failed:\n{out[-3000:]}\n{err}"
        yield emulator, workdir
    finally:
        emulator.stop()


def _aws(emulator, service):
    return boto3.client(service, endpoint_url=emulator.url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _physical(workdir: Path, emulator, resource_type: str, logical_prefix: str):
    for stack in rehearsal.read_assembly(workdir / "cdk.out"):
        for summary in _aws(emulator, "cloudformation").list_stack_resources(StackName=stack.name)["StackResourceSummaries"]:
            if summary["ResourceType"] == resource_type and summary["LogicalResourceId"].startswith(logical_prefix):
                return summary["LogicalResourceId"], summary["PhysicalResourceId"]
    raise AssertionError(f"no {resource_type} {logical_prefix}* deployed")


@pytest.mark.slow
@pytest.mark.xdist_group("rehearsal")
@needs_cdk
def test_checks_fail_with_one_clear_line_when_a_deployed_resource_does_not_match(deployed_app):
    emulator, workdir = deployed_app
    check = ["--endpoint-url", emulator.url, "--workdir", str(workdir), "--phases", "check"]

    code, out, err = _run(check, timeout=120)
    assert code == 0, f"the untouched deployment should pass:\n{out[-3000:]}\n{err}"
    assert "0 failed" in out and not _failure_lines(err)

    # 1. someone removes the default encryption of the data bucket
    logical, bucket = _physical(workdir, emulator, "AWS::S3::Bucket", "StorageData")
    s3 = _aws(emulator, "s3")
    saved = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    s3.delete_bucket_encryption(Bucket=bucket)
    code, out, err = _run(check, timeout=120)
    assert code == 1
    lines = _failure_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("rehearsal failed in check: 1 of ") and f"s3.encryption[HeadlinesPipeline/{logical}]" in lines[0]
    assert "expected aws:kms" in lines[0]
    assert f"FAIL  s3.encryption[HeadlinesPipeline/{logical}]" in out
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=saved)

    # 2. the API function's environment drifts from the template
    logical, function = _physical(workdir, emulator, "AWS::Lambda::Function", "ApiHandler")
    lam = _aws(emulator, "lambda")
    env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=function,
                                      Environment={"Variables": {**env, "MAX_HEADLINE_CHARS": "99999"}})
    code, out, err = _run(check, timeout=120)
    assert code == 1
    lines = _failure_lines(err)
    assert len(lines) == 1, err
    assert f"lambda.env[HeadlinesServing/{logical}]" in lines[0] and "MAX_HEADLINE_CHARS=99999" in lines[0]
    assert "Traceback" not in out + err


@pytest.mark.slow
@pytest.mark.xdist_group("rehearsal")
@needs_cdk
def test_the_whole_rehearsal_passes_end_to_end(tmp_path):
    workdir = tmp_path / "work"
    code, out, err = _run(["--workdir", str(workdir)], timeout=700)
    assert code == 0, f"{out[-6000:]}\n{err}"
    assert "rehearsal passed in" in out and not _failure_lines(err)
    for title in ("start emulator", "bootstrap", "preflight", "synth", "deploy", "check", "update", "destroy",
                  "inventory after destroy", "deploy again after destroy", "destroy again",
                  "inventory after the second destroy", "stop emulator"):
        assert f"{title}: done in" in out, title
    # headlines preflight before the first deploy: nothing that would fail it, and only known gaps unchecked
    # (no notebook repository to probe: the notebook gets the deployed project)
    assert "preflight: 5 ok, 0 failed, 5 could not be checked: nothing found that would fail a deploy" in out
    assert "  ok   API Gateway's CloudWatch logging role: arn:aws:iam::123456789012:role/" in out
    # the README's commands, one stack at a time, with no context but the rehearsal flag
    logs = workdir / "logs"
    for name, stack in (("deploy-pipeline", "HeadlinesPipeline"), ("deploy-serving", "HeadlinesServing"),
                        ("redeploy-pipeline", "HeadlinesPipeline"), ("redeploy-serving", "HeadlinesServing")):
        command = (logs / f"{name}.log").read_text().splitlines()[0]
        assert f" deploy {stack} " in command and " -c " not in command, command
    # cdk.json's app ran in the project's environment, every feature flag configured (the CLI
    # warns "N feature flags are not configured" after a synth otherwise)
    synth_log = (logs / "synth.log").read_text()
    assert "Successfully synthesized" in synth_log and "feature flags are not configured" not in synth_log
    # the update landed, and what each teardown left is only the documented gaps
    assert "PASS  update.endpoint-config" in out and "PASS  update.api-function-setting" in out
    assert out.count(" 0 unexplained leftovers, 0 missing") == 2
    assert "left behind: api gateway rest api" in out
    # the emulator it started is gone
    state = json.loads((workdir / "state.json").read_text())
    assert state["inventory_before"] and state["inventory_deployed"]
    pid = int(next(line.split("pid ")[1].split()[0] for line in out.splitlines() if "moto_server pid" in line))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
@pytest.mark.xdist_group("rehearsal")
@needs_cdk
def test_the_prod_rehearsal_redeploys_after_a_destroy_that_retains_the_data(tmp_path):
    """Prod retains buckets, key and log groups; a redeploy must not clash with any of them."""
    code, out, err = _run(["--stage", "prod", "--workdir", str(tmp_path / "work")], timeout=700)
    assert code == 0, f"{out[-6000:]}\n{err}"
    assert "deploy again after destroy: done in" in out and out.count(" 0 unexplained leftovers, 0 missing") == 2
    retained = [line for line in out.splitlines() if "left behind" in line and "DeletionPolicy Retain" in line]
    assert any("s3 bucket headlinesprodpipeline-storagedata" in line for line in retained)
    assert not any("state machine" in line or "ssm parameter" in line for line in retained)
