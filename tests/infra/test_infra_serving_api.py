"""Serving (instance mode, the default) and the REST API, as synthesized."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from infra.openapi_model import classify_request, inline_schema, load_openapi

pytestmark = pytest.mark.xdist_group("infra")


def _one(dev, type_):
    resources = dev.resources(dev.serving_name, type_)
    assert len(resources) == 1, (type_, list(resources))
    return next(iter(resources.values()))["Properties"]


def test_model_runs_the_artifact_code_in_the_mxnet_inference_image(dev):
    model = _one(dev, "AWS::SageMaker::Model")
    container = model["PrimaryContainer"]
    assert container["Image"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-inference:1.9.0-cpu-py38"
    assert container["ModelDataUrl"] == {"Fn::Select": [1, {"Fn::Split": [" ", {"Ref": "ApprovedModel"}]}]}
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_REGION": "us-east-1",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "HEADLINES_MAX_BATCH": "100",
        "HEADLINES_MAX_CHARS": "500",
    }
    assert model["EnableNetworkIsolation"] is True


def test_instance_variant_with_kms_and_autoscaling(dev):
    config = _one(dev, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.large" and variant["InitialInstanceCount"] == 1
    assert "ServerlessConfig" not in variant
    assert "KmsKeyId" in config
    assert "DataCaptureConfig" not in config  # off by default
    target = _one(dev, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    dev.template(dev.serving_name).has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 600,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                }
            ),
        },
    )
    endpoint = _one(dev, "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointName"] == "headlines-dev"
    assert endpoint["RetainAllVariantProperties"] is True


def test_generated_names_so_a_new_model_replaces_model_and_config_blue_green(dev):
    model = _one(dev, "AWS::SageMaker::Model")
    config = _one(dev, "AWS::SageMaker::EndpointConfig")
    assert "ModelName" not in model and "EndpointConfigName" not in config
    (model_id,) = dev.resources(dev.serving_name, "AWS::SageMaker::Model")
    assert config["ProductionVariants"][0]["ModelName"] == {"Fn::GetAtt": [model_id, "ModelName"]}


def test_deployment_guardrails_roll_back_on_the_endpoint_alarms(dev):
    endpoint = _one(dev, "AWS::SageMaker::Endpoint")
    deployment = endpoint["DeploymentConfig"]
    routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE" and routing["WaitIntervalInSeconds"] >= 300
    alarms = {k: a for k, a in dev.resources(dev.serving_name, "AWS::CloudWatch::Alarm").items()
              if a["Properties"].get("Namespace") == "AWS/SageMaker"}  # the drift watch's alarms are not the endpoint's
    assert sorted(a["AlarmName"]["Ref"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]) == sorted(alarms)
    for alarm in alarms.values():  # literal endpoint name: no cycle with the endpoint's rollback alarms
        assert {"Name": "EndpointName", "Value": "headlines-dev"} in alarm["Properties"]["Dimensions"]


def test_alarms_on_errors_and_latency_notify_the_topic(dev):
    alarms = dev.resources(dev.serving_name, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert {"Invocation5XXErrors", "ModelLatency"} <= set(metrics)
    for props in metrics.values():
        assert props["AlarmActions"], "alarms notify the alerts topic"
        assert "Fn::ImportValue" in json.dumps(props["AlarmActions"])


def test_api_function(dev):
    function = next(
        f["Properties"] for f in dev.resources(dev.serving_name, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "app.handler"
    )
    assert function["Runtime"] == "python3.12"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Timeout"] == 28
    env = function["Environment"]["Variables"]
    assert env["MAX_HEADLINE_CHARS"] == "500" and env["MAX_BATCH_SIZE"] == "100"
    assert env["ENDPOINT_TIMEOUT_SECONDS"] == "10.0"
    # the content hash of the parameters, from the pointer the pipeline wrote (metrics.json model_version)
    assert env["MODEL_VERSION"] == {"Fn::Select": [0, {"Fn::Split": [" ", {"Ref": "ApprovedModel"}]}]}
    assert env["POWERTOOLS_SERVICE_NAME"] == "headlines-api"
    assert "ENDPOINT_NAME" in env and "CORS_ALLOW_ORIGINS" in env
    layers = json.dumps(function["Layers"])
    assert ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:" in layers
    assert "LoggingConfig" in function  # its own log group
    groups = dev.resources(dev.serving_name, "AWS::Logs::LogGroup")
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())


def test_api_function_may_only_invoke_and_describe_this_endpoint(dev):
    statements = [
        s
        for p in dev.resources(dev.serving_name, "AWS::IAM::Policy").values()
        if "ApiHandlerRole" in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    sagemaker = [s for s in statements if any(a.startswith("sagemaker:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
    assert len(sagemaker) == 1
    assert sorted(sagemaker[0]["Action"]) == ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"]
    endpoint_id = next(iter(dev.resources(dev.serving_name, "AWS::SageMaker::Endpoint")))
    assert sagemaker[0]["Resource"] == {"Ref": endpoint_id}


def test_regional_api_with_routes(dev):
    api = _one(dev, "AWS::ApiGateway::RestApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    paths = sorted(r["Properties"]["PathPart"] for r in dev.resources(dev.serving_name, "AWS::ApiGateway::Resource").values())
    assert paths == ["classify", "health", "static", "v1", "{file}"]  # static/{file}: the page's files
    methods = {
        m["Properties"]["HttpMethod"] for m in dev.resources(dev.serving_name, "AWS::ApiGateway::Method").values()
        if m["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    }
    assert methods == {"POST", "GET"}


def test_classify_body_is_validated_against_the_contract(dev):
    validator = _one(dev, "AWS::ApiGateway::RequestValidator")
    assert validator["ValidateRequestBody"] is True
    model = _one(dev, "AWS::ApiGateway::Model")
    assert model["ContentType"] == "application/json" and model["Name"] == "ClassifyRequest"
    schema = model["Schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert "$ref" not in json.dumps(schema)
    single, batch = schema["oneOf"]
    assert single["required"] == ["headline"] and single["additionalProperties"] is False
    assert single["properties"]["headline"]["maxLength"] == 500
    assert batch["properties"]["headlines"]["maxItems"] == 100
    post = next(
        m["Properties"] for m in dev.resources(dev.serving_name, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
    )
    assert "RequestValidatorId" in post and set(post["RequestModels"]) == {"application/json"}


def test_gateway_model_equals_the_openapi_schema_with_default_limits():
    spec = load_openapi()
    assert classify_request() == {**inline_schema(spec, "ClassifyRequest"), "title": "ClassifyRequest"}
    # defaults in cdk.json agree with the contract
    assert classify_request(500, 100) == classify_request()


def test_stage_throttling_tracing_and_access_logs(dev):
    stage = _one(dev, "AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True
    assert stage["AccessLogSetting"]["DestinationArn"]
    assert "$context.requestId" in stage["AccessLogSetting"]["Format"]
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100
    assert settings["LoggingLevel"] == "ERROR" and settings["DataTraceEnabled"] is False


def test_usage_plan_throttles_and_sets_a_daily_quota(dev):
    plan = _one(dev, "AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    assert plan["Quota"] == {"Limit": 100000, "Period": "DAY"}
    assert plan["ApiStages"]
    assert not dev.resources(dev.serving_name, "AWS::ApiGateway::ApiKey")  # api_key_required is false by default


def test_gateway_errors_use_the_contract_error_body(dev):
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in dev.resources(dev.serving_name, "AWS::ApiGateway::GatewayResponse").values()}
    assert responses["BAD_REQUEST_BODY"]["StatusCode"] == "400"
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert responses["INTEGRATION_TIMEOUT"]["StatusCode"] == "504"
    assert responses["INVALID_API_KEY"]["StatusCode"] == "403"
    assert '"code": "forbidden"' in responses["INVALID_API_KEY"]["ResponseTemplates"]["application/json"].replace('":"', '": "')
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY", "THROTTLED", "QUOTA_EXCEEDED", "INVALID_API_KEY"} <= set(responses)
    codes = set()
    for props in responses.values():
        assert props["ResponseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId"
        body = props["ResponseTemplates"]["application/json"]
        assert "$context.requestId" in body
        # the gateway's own message arrives JSON-quoted ($context.error.messageString)
        codes.add(json.loads(body.replace("$context.error.messageString", '"x"'))["error"]["code"])
    contract_codes = set(load_openapi()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert codes <= contract_codes


def test_cors_preflight_from_config(dev):
    options = [
        m["Properties"] for m in dev.resources(dev.serving_name, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert options
    headers = json.dumps(options[0]["Integration"]["IntegrationResponses"])
    assert "Access-Control-Allow-Origin" in headers and "'*'" in headers


def test_outputs(dev):
    outputs = dev.templates[dev.serving_name]["Outputs"]
    assert {"ApiUrl", "ClassifyUrl", "EndpointName", "ModelDataUrl", "ModelVersion"} <= set(outputs)
    function = next(
        f["Properties"] for f in dev.resources(dev.serving_name, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "app.handler"
    )
    # one model identity: the output and the API's health answer read the same value
    assert outputs["ModelVersion"]["Value"] == function["Environment"]["Variables"]["MODEL_VERSION"]
