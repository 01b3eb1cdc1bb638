"""``headlines batch``: a SageMaker Batch Transform job on the approved, deployed model. Its AWS
calls run against botocore's Stubber (which validates every request against the service model),
and CreateTransformJob's parameters, for every configuration, against botocore's SageMaker model."""
from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timezone

import botocore.session
import pytest
from botocore.validate import ParamValidator
from test_pipeline_cli import stubbed_clients

from headlines.cli import batch as batch_cli
from headlines.config import load_config
from headlines.instance_types import known_types
from headlines.transform import OUTPUT_ACCEPT, create_transform_job_request, max_records

REGION = "us-east-1"
NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
BUCKET = "headlines-artifacts-123"
INPUT = f"s3://{BUCKET}/batch/input/news/headlines.txt"
OUTPUT = f"s3://{BUCKET}/batch/output/run1/"
MODEL_NAME = "ServingModel-AbC123"
KEY = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
JOB = "headlines-dev-batch-20261207-000000"
CFG = load_config()


@pytest.fixture
def aws():
    with stubbed_clients("cloudformation", "sagemaker", "ssm", "s3") as pair:
        yield pair


def _pointer(stubs, value="v42 s3://artifacts/models/run1/output/model.tar.gz"):
    stubs["ssm"].add_response("get_parameter", {"Parameter": {"Name": "/headlines/dev/model/serving", "Value": value}},
                              {"Name": "/headlines/dev/model/serving"})


def _outputs(stubs, stack, outputs):
    stubs["cloudformation"].add_response("describe_stacks", {"Stacks": [{
        "StackName": stack, "CreationTime": NOW, "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]}]}, {"StackName": stack})


def _serving(stubs, version="v42"):
    _outputs(stubs, "HeadlinesServing", {"ModelName": MODEL_NAME, "ModelVersion": version})


def _pipeline(stubs):
    _outputs(stubs, "HeadlinesPipeline", {"ArtifactsBucketName": BUCKET, "KeyArn": KEY})


def _job(stubs, status, **extra):
    stubs["sagemaker"].add_response("describe_transform_job", {
        "TransformJobName": JOB, "TransformJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:transform-job/{JOB}",
        "TransformJobStatus": status, "ModelName": MODEL_NAME, "CreationTime": NOW,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": INPUT}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}, **extra}, {"TransformJobName": JOB})


def _start(stubs):
    _pointer(stubs)
    _serving(stubs)
    _pipeline(stubs)
    stubs["s3"].add_response("list_objects_v2", {"KeyCount": 1}, {"Bucket": BUCKET, "Prefix": "batch/input/news/headlines.txt",
                                                                  "MaxKeys": 1})
    _pipeline(stubs)
    expected = create_transform_job_request(
        job_name=JOB, model_name=MODEL_NAME, input_uri=INPUT, output_uri=OUTPUT, instance_type=CFG.batch.instance_type,
        instance_count=CFG.batch.instance_count, max_payload_mb=CFG.batch.max_payload_mb,
        max_concurrent=CFG.batch.max_concurrent_transforms, volume_kms_key=KEY)
    stubs["sagemaker"].add_response("create_transform_job", {"TransformJobArn": f"arn:aws:sagemaker:{REGION}:1:transform-job/{JOB}"},
                                    expected)
    return expected


def run(clients, **kwargs):
    out = io.StringIO()
    code = batch_cli.run(clients, CFG, kwargs.pop("input_uri", INPUT), kwargs.pop("output_uri", OUTPUT), out=out,
                         sleep=lambda seconds: None, now=lambda: NOW.timestamp(), **kwargs)
    return code, out.getvalue()


def test_a_job_on_the_served_model_is_followed_to_completion(aws):
    clients, stubs = aws
    request = _start(stubs)
    _job(stubs, "InProgress")
    _job(stubs, "InProgress")
    _job(stubs, "Completed")
    code, out = run(clients)
    assert code == 0
    assert f"started transform job {JOB} on model v42" in out
    assert out.count(f"{JOB}: InProgress") == 1 and f"{JOB}: Completed" in out
    assert "completed: answers under " + OUTPUT.rstrip("/") in out
    assert request["BatchStrategy"] == "MultiRecord" and request["TransformInput"]["SplitType"] == "Line"
    assert request["TransformOutput"] == {"S3OutputPath": OUTPUT, "Accept": OUTPUT_ACCEPT, "AssembleWith": "Line"}
    assert request["Environment"] == {"HEADLINES_MAX_BATCH": str(max_records(CFG.batch.max_payload_mb)),
                                      "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(CFG.batch.max_payload_mb),
                                      "SAGEMAKER_MODEL_SERVER_TIMEOUT": "600"}
    assert request["ModelClientConfig"]["InvocationsTimeoutInSeconds"] == 600


def test_a_failed_job_is_one_line_with_its_reason(aws):
    clients, stubs = aws
    _start(stubs)
    _job(stubs, "Failed", FailureReason="ClientError: See job logs for more information")
    with pytest.raises(SystemExit, match=f"^error: transform job {JOB} failed: ClientError: See job logs"):
        run(clients)


def test_no_wait_returns_after_the_start(aws):
    clients, stubs = aws
    _start(stubs)
    code, out = run(clients, wait=False)
    assert code == 0 and f"describe-transform-job --transform-job-name {JOB}" in out


def test_no_approved_model_is_one_line(aws):
    clients, stubs = aws
    _pointer(stubs, "none no-model-approved-yet")
    with pytest.raises(SystemExit, match="^error: no approved model yet: run the pipeline"):
        run(clients)


def test_a_missing_pointer_is_one_line(aws):
    clients, stubs = aws
    stubs["ssm"].add_client_error("get_parameter", "ParameterNotFound", "not found")
    with pytest.raises(SystemExit, match="^error: no approved model: /headlines/dev/model/serving does not exist"):
        run(clients)


def test_an_approved_model_not_yet_deployed_says_to_deploy(aws):
    clients, stubs = aws
    _pointer(stubs)
    _serving(stubs, version="v41")
    with pytest.raises(SystemExit, match=r"^error: the approved model v42 is not deployed \(the endpoint serves v41\): "
                                         r"run `npx cdk deploy HeadlinesServing` first"):
        run(clients)


def test_a_serving_stack_not_deployed_is_one_line(aws):
    clients, stubs = aws
    _pointer(stubs)
    stubs["cloudformation"].add_client_error("describe_stacks", "ValidationError", "Stack with id HeadlinesServing does not exist")
    with pytest.raises(SystemExit, match="^error: stack HeadlinesServing is not deployed"):
        run(clients)


@pytest.mark.parametrize("input_uri, output_uri, message", [
    ("headlines.txt", OUTPUT, "--input 'headlines.txt' is not an S3 URI"),
    (INPUT, "s3://", "--output 's3://' is not an S3 URI"),
])
def test_bad_uris_are_one_line_before_any_call(aws, input_uri, output_uri, message):
    clients, _ = aws
    with pytest.raises(SystemExit, match="^error: " + message):
        run(clients, input_uri=input_uri, output_uri=output_uri)


@pytest.mark.parametrize("input_uri, output_uri, message", [
    ("s3://other-bucket/batch/input/h.txt", OUTPUT, f"the model's role reaches s3://{BUCKET}/batch/input/ only"),
    (f"s3://{BUCKET}/models/h.txt", OUTPUT, f"the model's role reaches s3://{BUCKET}/batch/input/ only"),
    (INPUT, f"s3://{BUCKET}/models/out/", f"the model's role writes under s3://{BUCKET}/batch/output/ only"),
])
def test_locations_the_models_role_cannot_reach_are_refused(aws, input_uri, output_uri, message):
    clients, stubs = aws
    _pointer(stubs)
    _serving(stubs)
    _pipeline(stubs)
    with pytest.raises(SystemExit, match="^error: .*" + message.replace(".", r"\.")):
        run(clients, input_uri=input_uri, output_uri=output_uri)


def test_a_missing_input_is_one_line(aws):
    clients, stubs = aws
    _pointer(stubs)
    _serving(stubs)
    _pipeline(stubs)
    stubs["s3"].add_response("list_objects_v2", {"KeyCount": 0}, {"Bucket": BUCKET, "Prefix": "batch/input/news/headlines.txt",
                                                                  "MaxKeys": 1})
    with pytest.raises(SystemExit, match="^error: --input .*: no such object or prefix"):
        run(clients)


@pytest.mark.parametrize("instance_type", known_types("transform"))
def test_the_request_matches_botocores_model_for_every_transform_instance_type(instance_type):
    """Every type SageMaker accepts for a transform job; a volume key only where it takes one."""
    from headlines.instance_types import accepts_volume_kms_key

    request = create_transform_job_request(
        job_name=JOB, model_name=MODEL_NAME, input_uri=INPUT, output_uri=OUTPUT, instance_type=instance_type,
        instance_count=2, max_payload_mb=6, max_concurrent=16, volume_kms_key=KEY if accepts_volume_kms_key(instance_type) else None)
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(request, model.operation_model("CreateTransformJob").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert len(request["Environment"]) <= 16  # "We support up to 16 key and values entries in the map."
    assert request["MaxConcurrentTransforms"] * request["MaxPayloadInMB"] <= 100


def test_the_configuration_refuses_what_create_transform_job_refuses():
    from headlines.config import ConfigError

    with pytest.raises(ConfigError, match="max_concurrent_transforms x max_payload_mb must not exceed 100"):
        load_config({"headlines.batch.max_concurrent_transforms": 20, "headlines.batch.max_payload_mb": 6})
    with pytest.raises(ConfigError, match="headlines.batch.instance_type: ml.m5.larg is not a SageMaker batch transform job"):
        load_config({"headlines.batch.instance_type": "ml.m5.larg"})


def test_no_credentials_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "headlines.cli", "batch", "--input", INPUT, "--output", OUTPUT],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no AWS credentials found while reading /headlines/dev/model/serving: configure them (aws configure, AWS_PROFILE, ...)"]

