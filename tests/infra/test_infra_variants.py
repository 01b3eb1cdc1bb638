"""Overrides: a prod stage with serverless serving, data capture off, API keys required."""
from __future__ import annotations

import json
import re

import pytest
from infra_support import synthesize

pytestmark = pytest.mark.xdist_group("infra-variants")


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    return synthesize(
        tmp_path_factory.mktemp("cdk-prod"),
        {
            "headlines.stage": "prod",
            "headlines.serving.mode": "serverless",
            "headlines.serving.serverless_memory_mb": "3072",
            "headlines.api.api_key_required": "true",
            "headlines.api.max_headline_chars": "300",
            "headlines.pipeline.notification_email": "ops@example.com",
        },
    )


def test_stack_names_carry_the_stage(prod):
    assert prod.pipeline_name == "HeadlinesProdPipeline" and prod.serving_name == "HeadlinesProdServing"


def test_prod_retains_data(prod):
    buckets = prod.resources(prod.pipeline_name, "AWS::S3::Bucket")
    assert buckets and all(b["DeletionPolicy"] == "Retain" for b in buckets.values())
    assert not prod.resources(prod.pipeline_name, "Custom::S3AutoDeleteObjects")
    keys = prod.resources(prod.pipeline_name, "AWS::KMS::Key")
    assert all(k["DeletionPolicy"] == "Retain" for k in keys.values())


# Properties that give a resource a fixed physical name (a retained one would make the next
# deploy fail with "already exists").
_NAME_PROPERTIES = re.compile(r"^(\w*Name|Alias\w*)$")


def test_prod_retains_nothing_with_a_fixed_name(prod):
    retained = []
    for stack, template in prod.templates.items():
        for logical, resource in template["Resources"].items():
            if resource.get("DeletionPolicy") == "Retain" or resource.get("UpdateReplacePolicy") == "Retain":
                named = [key for key, value in resource.get("Properties", {}).items() if _NAME_PROPERTIES.match(key) and isinstance(value, str)]
                retained.append((stack, resource["Type"]))
                assert not named, (stack, logical, resource["Type"], named)
    # what prod keeps: data (buckets, key, log groups) and API Gateway's account-level role
    assert ("HeadlinesProdPipeline", "AWS::S3::Bucket") in retained and ("HeadlinesProdPipeline", "AWS::KMS::Key") in retained
    types = {type_ for _, type_ in retained}
    assert "AWS::StepFunctions::StateMachine" not in types and "AWS::SSM::Parameter" not in types
    # the retained state machine log group: vended-logs prefix, unique per stack (its id)
    groups = [g["Properties"].get("LogGroupName") for g in prod.resources(prod.pipeline_name, "AWS::Logs::LogGroup").values()]
    named = [g for g in groups if g is not None]
    assert len(named) == 1 and "/aws/vendedlogs/states/headlines-prod-pipeline-" in json.dumps(named[0])
    assert '"Ref": "AWS::StackId"' in json.dumps(named[0])


def test_serverless_variant(prod):
    (config,) = prod.resources(prod.serving_name, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    assert "InstanceType" not in variant and "KmsKeyId" not in config["Properties"]
    assert not prod.resources(prod.serving_name, "AWS::ApplicationAutoScaling::ScalableTarget")
    (model,) = prod.resources(prod.serving_name, "AWS::SageMaker::Model").values()
    assert "EnableNetworkIsolation" not in model["Properties"]
    (endpoint,) = prod.resources(prod.serving_name, "AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["EndpointName"] == "headlines-prod"


def test_api_key_required(prod):
    assert len(prod.resources(prod.serving_name, "AWS::ApiGateway::ApiKey")) == 1
    assert len(prod.resources(prod.serving_name, "AWS::ApiGateway::UsagePlanKey")) == 1
    methods = [m["Properties"] for m in prod.resources(prod.serving_name, "AWS::ApiGateway::Method").values()]
    proxied = [m for m in methods if m["HttpMethod"] in ("GET", "POST")]
    page = [m for m in proxied if m.get("OperationName") in ("page", "pageFile")]  # the page needs no key
    assert len(page) == 2 and all(m["ApiKeyRequired"] is False for m in page)
    assert len(proxied) == 4 and all(m["ApiKeyRequired"] is True for m in proxied if m not in page)
    assert all(not m.get("ApiKeyRequired") for m in methods if m["HttpMethod"] == "OPTIONS")
    assert "ApiKeyId" in prod.templates[prod.serving_name]["Outputs"]


def test_gateway_limits_follow_the_config(prod):
    (model,) = prod.resources(prod.serving_name, "AWS::ApiGateway::Model").values()
    assert model["Properties"]["Schema"]["oneOf"][0]["properties"]["headline"]["maxLength"] == 300


def test_email_subscription(prod):
    prod.template(prod.pipeline_name).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_parameter_name_carries_the_stage(prod):
    assert "/headlines/prod/model/approved" in json.dumps(prod.templates[prod.pipeline_name])


def test_data_capture_needs_instance_mode(tmp_path):
    with pytest.raises(Exception, match="data_capture needs serving.mode=instance"):
        synthesize(
            tmp_path,
            {"headlines.serving.mode": "serverless", "headlines.serving.data_capture": "true"},
            nag=False,
        )


def test_cfn_lint_finds_no_error(prod):
    from cfnlint.api import ManualArgs, lint_file

    errors = [
        f"{path.name}: {match}"
        for path in sorted(prod.outdir.glob("*.template.json"))
        for match in lint_file(path, ManualArgs(regions=["us-east-1"]))
        if match.rule.id.startswith("E")
    ]
    assert errors == []


def test_prod_registers_models_for_a_person_to_approve(prod):
    from infra_support import state_machine_definition

    states = state_machine_definition(prod.templates[prod.pipeline_name])["States"]
    register = states["Register model"]
    assert register["Parameters"]["ModelApprovalStatus"] == "PendingManualApproval"
    # nothing serves it until someone approves it (the approval rule then moves the pointer)
    assert register["Next"] == "Model awaiting approval" and states["Model awaiting approval"]["Type"] == "Succeed"
    assert "Point serving at the model" not in states
    (group,) = prod.resources(prod.pipeline_name, "AWS::SageMaker::ModelPackageGroup").values()
    assert group["Properties"]["ModelPackageGroupName"]["Fn::Join"][1][0] == "headlines-prod-models"
