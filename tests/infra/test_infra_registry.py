"""The model registry in AWS: the model package group, the registration step (its request checked
against botocore's SageMaker model), the approval rule and its function (on moto), and the
``headlines model`` AWS backend (on moto)."""
from __future__ import annotations

import json
import re
from typing import Any, Dict

import botocore.session
import pytest
import regex
from botocore.validate import ParamValidator
from infra_support import state_machine_definition

from headlines import registry as reg
from headlines.file_modules import load_lambda
from infra.registry import CONTENT_TYPES, STATE_CHANGE, registration_expression

pytestmark = pytest.mark.xdist_group("infra")

approval = load_lambda("model_approval", "model_approval")
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


@pytest.fixture(scope="module")
def asl(dev):
    return state_machine_definition(dev.templates[dev.pipeline_name])


def test_one_model_package_group_per_stage_kept_on_destroy(dev):
    (group,) = dev.resources(dev.pipeline_name, "AWS::SageMaker::ModelPackageGroup").values()
    name = group["Properties"]["ModelPackageGroupName"]["Fn::Join"]
    assert name[0] == "-" and name[1][0] == "headlines-dev-models"
    assert '"Ref": "AWS::StackId"' in json.dumps(name[1][1])  # unique per stack: a redeploy never clashes
    assert group["DeletionPolicy"] == "Retain"  # every model's record outlives the stack
    outputs = dev.templates[dev.pipeline_name]["Outputs"]
    assert "ModelPackageGroupName" in outputs


def _resolve(parameters: Any, state: Dict[str, Any]) -> Any:
    """A Task's Parameters with each ``"X.$": "$.a.b"`` replaced by the state's value."""
    if isinstance(parameters, list):
        return [_resolve(item, state) for item in parameters]
    if not isinstance(parameters, dict):
        return parameters
    resolved = {}
    for key, value in parameters.items():
        if key.endswith(".$"):
            node: Any = state
            for part in value.removeprefix("$.").split("."):
                node = node[part]
            resolved[key[:-2]] = node
        else:
            resolved[key] = _resolve(value, state)
    return resolved


def sample_metadata(expression: str) -> Dict[str, str]:
    """The metadata keys the registration step writes, with values as its JSONata makes them."""
    block = expression[expression.index("'metadata': {"):]
    keys = re.findall(r"^\s+'(\w+)': ", block, flags=re.M)
    values = {"model_version": "0123456789abcdef", "execution": "3f2a9c1e-run", "training_job": "headlines-dev-clf-run1",
              "embeddings_job": "headlines-dev-emb-run1", "gate_metric": "test_macro_f1", "gate_value": "0.8612",
              "champion_value": "0.8581", "champion_version": "fedcba9876543210", "test_rows": "63400",
              "approved_at": "2026-12-07T05:10:01.123Z", "verdict": "promote", "reason": "none"}
    return {key: values.get(key, "a" * 64 if key.endswith("sha256") else "0.01") for key in keys}


def registration_state(expression: str) -> Dict[str, Any]:
    return {"approved": {"model_data_url": "s3://artifacts/models/headlines-dev-clf-run1/output/model.tar.gz"},
            "registration": {"description": "model 0123456789abcdef: test_macro_f1 0.8612, champion 0.8581 on the same 63400 rows",
                             "metrics_url": "s3://artifacts/models/headlines-dev-clf-run1/output/metrics.json",
                             "metadata": sample_metadata(expression)}}


def check_request(operation: str, request: Dict[str, Any]) -> None:
    """botocore's validation (types, required, lengths) plus the patterns it leaves out."""
    shape = SAGEMAKER.operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    metadata = shape.members["CustomerMetadataProperties"]
    items = request.get("CustomerMetadataProperties", {})
    assert len(items) <= metadata.metadata["max"]
    for key, value in items.items():
        for text, member in ((key, metadata.key), (value, metadata.value)):
            assert regex.fullmatch(member.metadata["pattern"].split("${")[0], text), (key, text)
            assert member.metadata["min"] <= len(text) <= member.metadata["max"], (key, text)


def test_registration_request_matches_botocore(asl, dev):
    state = asl["States"]["Register model"]
    assert state["Resource"].endswith(":states:::aws-sdk:sagemaker:createModelPackage")
    expression = asl["States"]["Prepare registration"]["Output"]
    request = _resolve(state["Parameters"], registration_state(expression))
    check_request("CreateModelPackage", request)
    assert request["ModelApprovalStatus"] == reg.APPROVED  # dev approves after the gate
    (container,) = request["InferenceSpecification"]["Containers"]
    assert container["Image"] == dev.built.pipeline.images.mxnet_inference
    assert container["ModelDataUrl"].endswith("/output/model.tar.gz")
    assert request["InferenceSpecification"]["SupportedContentTypes"] == list(CONTENT_TYPES)
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/metrics.json")
    # both backends write the same lineage and gate keys (headlines/registry.py)
    assert set(reg.LINEAGE_KEYS + reg.GATE_KEYS) <= set(request["CustomerMetadataProperties"])
    assert state["ResultPath"] == "$.approved.model_package"  # the execution's output names the package


def test_content_types_are_what_inference_reads():
    from headlines.project import INFERENCE_DIR

    source = (INFERENCE_DIR / "inference.py").read_text()
    for media_type in CONTENT_TYPES:
        assert f'"{media_type}"' in source


def test_pending_status_for_a_manual_stage():
    assert "'approved_at': 'none'" in registration_expression("abc", "test_macro_f1", 0.8, 0.01, reg.PENDING)


def test_gate_figures_reach_the_execution_output(asl):
    expression = asl["States"]["Prepare registration"]["Output"]
    for field in ("'gate': $merge([$in.quality", "'test_rows': $id.test_rows", "'test_rows_sha256'", "'champion_version'"):
        assert field in expression
    gate = asl["States"]["Read quality metric"]["Output"]
    assert "MetricName = 'champion_macro_f1'" in gate and "'tolerance': 0.01" in gate


def test_approval_rule_targets_the_pointer_function(dev):
    resources = dev.templates[dev.pipeline_name]["Resources"]
    rules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"
             and r["Properties"]["EventPattern"].get("detail-type") == [STATE_CHANGE]]
    (rule,) = rules
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    (group,) = pattern["detail"]["ModelPackageGroupName"]
    assert group["Fn::Join"][1][0] == "headlines-dev-models"
    (target,) = rule["Properties"]["Targets"]
    function_id = target["Arn"]["Fn::GetAtt"][0]
    function = resources[function_id]["Properties"]
    assert function["Handler"] == "model_approval.handler" and function["Runtime"] == "python3.12"
    env = function["Environment"]["Variables"]
    assert env["SERVING_PARAMETER"] == "/headlines/dev/model/serving" and env["APPROVAL_PARAMETER"] == "/headlines/dev/model/approved"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["Principal"] == "events.amazonaws.com"
                   and r["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}]
    assert permissions


# ---- on moto: the approval function and the AWS backend of headlines model ----------------

GROUP = "headlines-dev-models-0a1b2c3d"


@pytest.fixture()
def aws(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("MODEL_PACKAGE_GROUP", GROUP), ("SERVING_PARAMETER", "/headlines/dev/model/serving"),
                        ("APPROVAL_PARAMETER", "/headlines/dev/model/approved")):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        yield boto3.client("sagemaker", region_name="us-east-1"), boto3.client("ssm", region_name="us-east-1")


def register(client, version: str, status: str, approved_at: str = "none") -> str:
    """A package as the pipeline registers it (the synthesized request's shape)."""
    expression = registration_expression("abc", "test_macro_f1", 0.8, 0.01, status)
    state = registration_state(expression)
    metadata = dict(state["registration"]["metadata"], model_version=version, approved_at=approved_at,
                    test_macro_f1="0.85")
    request = {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": status,
               "ModelPackageDescription": state["registration"]["description"],
               "InferenceSpecification": {"Containers": [{
                   "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-inference:1.9.0-cpu-py38",
                   "ModelDataUrl": f"s3://artifacts/models/{version}/output/model.tar.gz"}],
                   "SupportedContentTypes": list(CONTENT_TYPES), "SupportedResponseMIMETypes": ["application/json"]},
               "CustomerMetadataProperties": metadata}
    check_request("CreateModelPackage", request)
    return client.create_model_package(**request)["ModelPackageArn"]


def event(arn: str, status: str) -> Dict[str, Any]:
    """The documented shape of the event (detail: the model package's description)."""
    return {"version": "0", "source": "aws.sagemaker", "detail-type": STATE_CHANGE, "resources": [arn],
            "detail": {"ModelPackageGroupName": GROUP, "ModelPackageArn": arn, "ModelApprovalStatus": status}}


def pointer(ssm) -> str:
    return ssm.get_parameter(Name="/headlines/dev/model/serving")["Parameter"]["Value"]


def test_approval_function_points_serving_at_the_approved_model(aws):
    sagemaker, ssm = aws
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    ssm.put_parameter(Name="/headlines/dev/model/serving", Value="none no-model-approved-yet", Type="String")
    first = register(sagemaker, "aaaa1111", reg.APPROVED, "2026-01-01T00:00:00.000000Z")
    assert approval.handler(event(first, reg.APPROVED), None, sagemaker, ssm)["changed"]
    assert pointer(ssm) == "aaaa1111 s3://artifacts/models/aaaa1111/output/model.tar.gz"

    second = register(sagemaker, "bbbb2222", reg.PENDING)
    approval.handler(event(second, reg.PENDING), None, sagemaker, ssm)
    assert pointer(ssm).startswith("aaaa1111 ")  # pending: the approved model still serves

    from headlines.registry_aws import AwsRegistry

    registry = AwsRegistry(sagemaker, GROUP, "/headlines/dev/model/serving", "HeadlinesServing")
    reg.approve(registry, "bbbb2222")
    approval.handler(event(second, reg.APPROVED), None, sagemaker, ssm)
    assert pointer(ssm).startswith("bbbb2222 ")
    record = json.loads(ssm.get_parameter(Name="/headlines/dev/model/approved")["Parameter"]["Value"])
    assert record["model_version"] == "bbbb2222" and record["model_package_arn"] == second

    reg.rollback(registry)
    approval.handler(event(second, reg.REJECTED), None, sagemaker, ssm)
    assert pointer(ssm).startswith("aaaa1111 ")
    assert approval.handler(dict(event(first, reg.APPROVED), detail={"ModelPackageGroupName": "other"}), None,
                            sagemaker, ssm) == {"changed": False, "reason": "another group"}


def test_aws_backend_on_moto(aws):
    from headlines.registry_aws import AwsRegistry

    sagemaker, _ = aws
    registry = AwsRegistry(sagemaker, GROUP, "/headlines/dev/model/serving", "HeadlinesServing")
    with pytest.raises(reg.RegistryError, match=GROUP):
        registry.records()  # no group: the pipeline stack is not deployed
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    assert registry.records() == []
    register(sagemaker, "aaaa1111", reg.APPROVED, "2026-01-01T00:00:00.000000Z")
    register(sagemaker, "bbbb2222", reg.PENDING)
    records = registry.records()
    assert [(r.version, r.status) for r in records] == [("aaaa1111", reg.APPROVED), ("bbbb2222", reg.PENDING)]
    assert records[0].model_data_url.endswith("aaaa1111/output/model.tar.gz") and records[0].metrics["macro_f1"] == 0.85

    _, next_step = reg.approve(registry, "bbbb2222")
    assert "npx cdk deploy HeadlinesServing" in next_step
    assert reg.serving(registry.records()).version == "bbbb2222"
    record, _ = reg.rollback(registry)
    assert record.version == "aaaa1111" and reg.serving(registry.records()).version == "aaaa1111"
    assert {r.version: r.status for r in registry.records()} == {"aaaa1111": reg.APPROVED, "bbbb2222": reg.REJECTED}
    with pytest.raises(reg.RegistryError, match="rejected"):
        reg.approve(registry, "bbbb2222")
    with pytest.raises(reg.RegistryError, match="no model cccc"):
        reg.approve(registry, "cccc")


def test_the_cli_finds_the_group_through_the_stack_output(aws, monkeypatch, capsys):
    import boto3

    from headlines.cli import commands as cli

    sagemaker, _ = aws
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert cli.main(["model", "list", "--aws"]) == 2  # the pipeline stack is not deployed: one line
    err = capsys.readouterr().err
    assert err.startswith("error: reading stack HeadlinesPipeline") and err.count("\n") == 1
    boto3.client("cloudformation", region_name="us-east-1").create_stack(StackName="HeadlinesPipeline", TemplateBody=json.dumps({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ModelPackageGroupName": {"Value": GROUP}}}))
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "aaaa1111", reg.PENDING)
    assert cli.main(["model", "approve", "aaaa1111", "--aws", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["status"] == reg.APPROVED and "HeadlinesServing" in answer["next"]
    assert cli.main(["model", "list", "--aws"]) == 0
    assert capsys.readouterr().out.startswith("* aaaa1111")


def _python_condition(jsonata: str) -> str:
    """The gate's JSONata conditions as Python (they use only comparisons, arithmetic, and, null)."""
    text = jsonata.removeprefix("{%").removesuffix("%}").strip()
    text = text.replace("$states.input.quality.value", "value").replace("$states.input.quality.champion", "champion")
    text = re.sub(r"(\w+) != null", r"\1 is not None", text)
    return re.sub(r"(\w+) = null", r"\1 is None", text)


@pytest.mark.parametrize("value, champion", [(0.85, None), (0.79, None), (0.85, 0.855), (0.85, 0.87), (0.9, 0.87),
                                             (None, None), (0.8, 0.81), (0.8, 0.8101)])
def test_the_state_machine_gate_is_the_local_gate(asl, dev, value, champion):
    """infra/quality_gate.py's Choice and headlines/registry.py's Gate give the same verdict."""
    cfg = dev.built.cfg.classifier
    choice = asl["States"]["Quality gate"]
    verdict = choice["Default"]
    for rule in choice["Choices"]:
        if eval(_python_condition(rule["Condition"]), {}, {"value": value, "champion": champion}):  # our own template's conditions
            verdict = rule["Next"]
            break
    local = reg.Gate(cfg.quality_metric, value, cfg.quality_threshold, cfg.champion_tolerance,
                     "c0ffee" if champion is not None else None, champion, 100, "ab" * 32)
    assert (verdict == "Read model version") == (local.verdict == reg.PROMOTE), (verdict, local.reason_refused())
