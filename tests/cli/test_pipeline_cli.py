"""``headlines pipeline start|status``: its AWS calls, checked with botocore's Stubber."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from headlines.cli import pipeline as pipeline_cli
from headlines.cli.pipeline import Clients

REGION = "us-east-1"
STACK = "HeadlinesPipeline"
SM_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:headlines-dev-pipeline"
EXEC_ARN = f"arn:aws:states:{REGION}:123456789012:execution:headlines-dev-pipeline:run-1"
NOW = datetime(2026, 11, 28, tzinfo=timezone.utc)
MODEL = "s3://artifacts/models/headlines-clf-run-1/output/model.tar.gz"


@contextlib.contextmanager
def stubbed_clients(*names: str):
    """``(clients, stubs)``: the named clients answer from botocore's Stubber, which checks every
    request against the service model; each stubbed answer must be used."""
    def client(name):
        return boto3.client(name, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")

    clients = Clients(**{name: client(name) for name in ("cloudformation", "stepfunctions", "sagemaker", "ssm", "s3")})
    stubs = {name: Stubber(getattr(clients, name)) for name in names}
    for stub in stubs.values():
        stub.activate()
    yield clients, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


@pytest.fixture
def aws():
    with stubbed_clients("cloudformation", "stepfunctions", "sagemaker") as pair:
        yield pair


def _stack(stubs, outputs=None):
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "CreationTime": NOW,
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": outputs if outputs is not None else [{"OutputKey": "StateMachineArn", "OutputValue": SM_ARN}],
                }
            ]
        },
        {"StackName": STACK},
    )


def _event(event_id, type_, **details):
    return {"id": event_id, "timestamp": NOW, "type": type_, **details}


def _entered(event_id, name):
    return _event(event_id, "TaskStateEntered", stateEnteredEventDetails={"name": name})


def _submitted(event_id, job):
    output = json.dumps({"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{job}"})
    return _event(
        event_id,
        "TaskSubmitted",
        taskSubmittedEventDetails={"resourceType": "sagemaker", "resource": "createTrainingJob.sync", "output": output},
    )


def _history(stubs, events):
    stubs["stepfunctions"].add_response(
        "get_execution_history", {"events": events}, {"executionArn": EXEC_ARN, "maxResults": 1000}
    )


def _execution(stubs, status, **extra):
    stubs["stepfunctions"].add_response(
        "describe_execution",
        {"executionArn": EXEC_ARN, "stateMachineArn": SM_ARN, "status": status, "startDate": NOW, **extra},
        {"executionArn": EXEC_ARN},
    )


def _job(stubs, job, secondary, message=None):
    response = {
        "TrainingJobName": job,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{job}",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://a/b"},
        "TrainingJobStatus": "Completed" if secondary == "Completed" else "InProgress",
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {},
        "CreationTime": NOW,
    }
    if message:
        response["SecondaryStatusTransitions"] = [{"Status": secondary, "StartTime": NOW, "StatusMessage": message}]
    stubs["sagemaker"].add_response("describe_training_job", response, {"TrainingJobName": job})


def test_start_without_wait_prints_the_execution(aws):
    clients, stubs = aws
    _stack(stubs)
    stubs["stepfunctions"].add_response(
        "start_execution", {"executionArn": EXEC_ARN, "startDate": NOW}, {"stateMachineArn": SM_ARN}
    )
    out = io.StringIO()
    assert pipeline_cli.start(clients, STACK, wait=False, out=out) == 0
    assert f"started {EXEC_ARN}" in out.getvalue()


def test_start_wait_follows_states_and_training_jobs_to_success(aws):
    clients, stubs = aws
    _stack(stubs)
    stubs["stepfunctions"].add_response("start_execution", {"executionArn": EXEC_ARN, "startDate": NOW}, {"stateMachineArn": SM_ARN})
    job = "headlines-emb-run-1"
    first = [_event(1, "ExecutionStarted"), _entered(2, "Ingest datasets"), _entered(3, "Train embeddings"), _submitted(4, job)]
    # poll 1
    _history(stubs, first)
    _job(stubs, job, "Downloading", "Downloading input data")
    _execution(stubs, "RUNNING")
    # poll 2: same job still training
    _history(stubs, first)
    _job(stubs, job, "Training")
    _execution(stubs, "RUNNING")
    # poll 3: job done, later states, success
    _history(stubs, first + [_entered(5, "Train classifier"), _entered(6, "Quality gate"), _entered(7, "Publish approved model")])
    _job(stubs, job, "Completed")
    approved = {"model_data_url": MODEL, "metrics": {"test_macro_f1": 0.88}, "execution_id": EXEC_ARN}
    _execution(stubs, "SUCCEEDED", output=json.dumps(approved))

    out, sleeps = io.StringIO(), []
    assert pipeline_cli.start(clients, STACK, wait=True, out=out, poll_seconds=7, sleep=sleeps.append) == 0
    text = out.getvalue()
    order = ["-> Ingest datasets", "-> Train embeddings", f"{job}: Downloading (Downloading input data)",
             f"{job}: Training", f"{job}: Completed", "-> Train classifier", "-> Publish approved model",
             f"model approved: {MODEL}", "npx cdk deploy HeadlinesServing"]
    positions = [text.index(item) for item in order]
    assert positions == sorted(positions)
    assert text.count("-> Train embeddings") == 1
    assert sleeps == [7, 7]


def test_failed_execution_ends_with_its_cause_and_non_zero(aws):
    clients, stubs = aws
    _history(stubs, [_entered(1, "Quality gate")])
    _execution(stubs, "FAILED", error="QualityGateFailed", cause="test_macro_f1 = 0.5 is below the threshold 0.8")
    with pytest.raises(SystemExit) as exc:
        pipeline_cli.follow(clients, EXEC_ARN, STACK, out=io.StringIO(), sleep=lambda s: None)
    assert str(exc.value) == "error: pipeline failed: QualityGateFailed: test_macro_f1 = 0.5 is below the threshold 0.8"


def test_stack_not_deployed(aws):
    clients, stubs = aws
    stubs["cloudformation"].add_client_error(
        "describe_stacks", service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist", expected_params={"StackName": STACK},
    )
    with pytest.raises(SystemExit) as exc:
        pipeline_cli.start(clients, STACK, wait=True, out=io.StringIO())
    message = str(exc.value)
    assert message.startswith("error: stack HeadlinesPipeline is not deployed") and "npx cdk deploy HeadlinesPipeline" in message
    assert "\n" not in message


def test_stack_without_the_output(aws):
    clients, stubs = aws
    _stack(stubs, outputs=[])
    with pytest.raises(SystemExit, match="has no StateMachineArn output"):
        pipeline_cli.start(clients, STACK, wait=False, out=io.StringIO())


def test_access_denied_is_one_line(aws):
    clients, stubs = aws
    _stack(stubs)
    stubs["stepfunctions"].add_client_error("start_execution", service_error_code="AccessDeniedException", service_message="not allowed")
    with pytest.raises(SystemExit) as exc:
        pipeline_cli.start(clients, STACK, wait=False, out=io.StringIO())
    assert str(exc.value) == "error: starting the pipeline: AccessDeniedException: not allowed"


def test_no_credentials_is_one_line():
    from botocore.exceptions import NoCredentialsError

    class Broken:
        def describe_stacks(self, **kwargs):
            raise NoCredentialsError()

    clients = Clients(cloudformation=Broken(), stepfunctions=None, sagemaker=None)
    with pytest.raises(SystemExit) as exc:
        pipeline_cli.start(clients, STACK, wait=False, out=io.StringIO())
    assert str(exc.value).startswith("error: no AWS credentials found")


def test_status_of_the_latest_execution(aws):
    clients, stubs = aws
    _stack(stubs)
    stubs["stepfunctions"].add_response(
        "list_executions",
        {"executions": [{"executionArn": EXEC_ARN, "stateMachineArn": SM_ARN, "name": "run-1", "status": "RUNNING", "startDate": NOW}]},
        {"stateMachineArn": SM_ARN, "maxResults": 1},
    )
    _history(stubs, [_entered(1, "Ingest datasets"), _entered(2, "Train embeddings")])
    _execution(stubs, "RUNNING")
    out = io.StringIO()
    assert pipeline_cli.status(clients, STACK, None, out=out) == 0
    assert f"execution {EXEC_ARN}: RUNNING" in out.getvalue()
    assert "current state: Train embeddings" in out.getvalue()


def test_status_without_executions(aws):
    clients, stubs = aws
    _stack(stubs)
    stubs["stepfunctions"].add_response("list_executions", {"executions": []}, {"stateMachineArn": SM_ARN, "maxResults": 1})
    out = io.StringIO()
    assert pipeline_cli.status(clients, STACK, None, out=out) == 0
    assert "no execution yet" in out.getvalue()


def test_status_of_a_given_failed_execution(aws):
    clients, stubs = aws
    _history(stubs, [])
    _execution(stubs, "TIMED_OUT")
    with pytest.raises(SystemExit, match="error: pipeline timed out: TIMED_OUT"):
        pipeline_cli.status(clients, STACK, EXEC_ARN, out=io.StringIO())


def test_register_adds_the_subcommands():
    parser = argparse.ArgumentParser()
    pipeline_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pipeline", "start", "--wait", "--stack", "X"])
    assert (args.wait, args.stack, args.run) == (True, "X", pipeline_cli._run_start)
    args = parser.parse_args(["pipeline", "status", "--execution", EXEC_ARN])
    assert (args.execution, args.run) == (EXEC_ARN, pipeline_cli._run_status)
    assert pipeline_cli.default_stack() == "HeadlinesPipeline"
    assert pipeline_cli.serving_stack_for("HeadlinesProdPipeline") == "HeadlinesProdServing"


def test_no_region_is_one_line(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(SystemExit, match="no AWS region"):
        Clients.create(None)
