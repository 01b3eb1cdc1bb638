"""The training pipeline's state machine, as synthesized (dev defaults)."""
from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match
from infra_support import state_machine_definition

from headlines.training_time import MAX_RUNTIME_CEILING, TASK_TIMEOUT_MARGIN_SECONDS
from infra.training_jobs import CLASSIFIER_METRICS, metric_regex

pytestmark = pytest.mark.xdist_group("infra")


@pytest.fixture(scope="module")
def asl(dev):
    return state_machine_definition(dev.templates[dev.pipeline_name])


def test_states_in_order(asl):
    states = asl["States"]
    assert asl["StartAt"] == "Ingest datasets"
    assert states["Ingest datasets"]["Next"] == "Train embeddings"
    assert states["Train embeddings"]["Next"] == "Find champion"
    assert states["Find champion"]["Next"] == "Champion?"
    choice = states["Champion?"]
    assert choice["Choices"] == [{"Variable": "$.champion.pointer", "StringMatches": "none *", "Next": "Train classifier"}]
    assert choice["Default"] == "Train classifier against the champion"
    assert states["Train classifier"]["Next"] == "Read quality metric"
    assert states["Train classifier against the champion"]["Next"] == "Read quality metric"
    assert states["Read quality metric"]["Next"] == "Quality gate"
    assert states["Quality gate"]["Type"] == "Choice"
    assert states["Read model version"]["Next"] == "Prepare registration"
    assert states["Prepare registration"]["Next"] == "Register model"
    assert states["Register model"]["Next"] == "Point serving at the model"
    assert states["Point serving at the model"]["Next"] == "Publish approved model"
    assert states["Publish approved model"]["Next"] == "Model approved"
    fails = ("Quality gate failed", "Quality metric missing", "Worse than the champion")
    assert {states[name]["Type"] for name in fails} == {"Fail"}


def test_every_task_has_a_timeout_and_retries_with_backoff(asl, dev):
    tasks = {name: s for name, s in asl["States"].items() if s["Type"] == "Task"}
    assert len(tasks) == 9
    for name, state in tasks.items():
        # a job's task: its MaxRuntimeInSeconds (at most SageMaker's 5 days) and the margin; the others short
        job = state.get("Parameters", {}).get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        limit = job + TASK_TIMEOUT_MARGIN_SECONDS if job else 3600
        assert 0 < state["TimeoutSeconds"] <= limit <= MAX_RUNTIME_CEILING + TASK_TIMEOUT_MARGIN_SECONDS, name
        assert state["Retry"], name
        for retry in state["Retry"]:
            assert retry["BackoffRate"] >= 2 and retry["MaxAttempts"] >= 3, name
            assert retry["JitterStrategy"] == "FULL"
            assert "States.ALL" not in retry["ErrorEquals"], "a failed training job must not be retried blindly"
    assert "Lambda.TooManyRequestsException" in tasks["Ingest datasets"]["Retry"][0]["ErrorEquals"]
    assert "SageMaker.ThrottlingException" in tasks["Train classifier"]["Retry"][0]["ErrorEquals"]
    # the execution's timeout, derived from its jobs' limits (headlines/config.py), outlasts them
    # (one of the two classifier tasks runs: with or without the champion channel)
    path = [t for name, t in tasks.items() if name != "Train classifier against the champion"]
    assert tasks["Train classifier against the champion"]["TimeoutSeconds"] == tasks["Train classifier"]["TimeoutSeconds"]
    assert asl["TimeoutSeconds"] == dev.built.cfg.pipeline_timeout_minutes * 60 >= sum(t["TimeoutSeconds"] for t in path)


def test_ingest_event_contract(asl, dev):
    state = asl["States"]["Ingest datasets"]
    event = state["Parameters"]
    assert event["bucket"] == "TOKEN"
    assert [s["name"] for s in event["sources"]] == ["news", "corpus"]
    news, corpus = event["sources"]
    assert news["url"] == dev.built.cfg.data.news_url and news["key"] == "raw/news/NewsAggregatorDataset.zip"
    assert corpus["url"] == dev.built.cfg.data.corpus_url and corpus["key"] == "raw/corpus/text8.zip"
    assert state["ResultPath"] == "$.ingest"


def test_blazingtext_job(asl, dev):
    params = asl["States"]["Train embeddings"]["Parameters"]
    assert asl["States"]["Train embeddings"]["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert params["AlgorithmSpecification"]["TrainingImage"] == "811284229777.dkr.ecr.us-east-1.amazonaws.com/blazingtext:1"
    channel = params["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.ingest.objects.corpus_text"
    assert channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
    hp = params["HyperParameters"]
    assert hp["mode"] == "batch_skipgram" and hp["vector_dim"] == "100" and hp["evaluation"] == "True"
    assert params["ResourceConfig"] == {
        "InstanceCount": 2,
        "InstanceType": "ml.c5.2xlarge",
        "VolumeSizeInGB": 10,
        "VolumeKmsKeyId": "TOKEN",
    }
    assert params["OutputDataConfig"]["S3OutputPath"].endswith("/embeddings/")
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert "$$.Execution.Name" in params["TrainingJobName.$"]


def test_classifier_job_script_mode(asl, dev):
    params = asl["States"]["Train classifier"]["Parameters"]
    assert params["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-training:1.9.0-cpu-py38"
    )
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in params["InputDataConfig"]}
    assert set(channels) == {"train", "embeddings"}
    assert channels["train"]["S3Uri"].endswith("/raw/news/")
    assert channels["embeddings"]["S3Uri.$"] == "$.embeddings.model_data_url"
    hp = {k: json.loads(v) for k, v in params["HyperParameters"].items()}
    for key, value in dev.built.cfg.classifier.hyperparameters.items():
        assert hp[key] == value
    assert hp["sagemaker_program"] == "train.py"
    assert hp["sagemaker_region"] == "us-east-1"
    assert hp["sagemaker_submit_directory"] == "TOKEN"  # s3 URI of the sourcedir asset
    assert params["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"


def test_sourcedir_asset_is_a_tarball_in_the_assembly(dev):
    template = json.dumps(dev.templates[dev.pipeline_name])
    submit = re.search(r"cdk-hnb659fds-assets-\$\{AWS::AccountId\}-us-east-1/([0-9a-f]{64})\.gz", template)
    assert submit, "sagemaker_submit_directory points at the file asset"
    staged = list(dev.outdir.glob(f"asset.{submit.group(1)}*"))
    assert len(staged) == 1 and staged[0].name.endswith(".tar.gz")
    import tarfile

    with tarfile.open(staged[0]) as tar:
        assert "train.py" in tar.getnames(), tar.getnames()


@pytest.mark.parametrize("name", CLASSIFIER_METRICS)
def test_metric_definitions_match_train_py_lines(asl, name):
    definitions = {d["Name"]: d["Regex"] for d in asl["States"]["Train classifier"]["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]}
    regex = definitions[name]
    assert regex == metric_regex(name)
    line = f"epoch=3; {name}=0.9312; other_metric=0.1;"
    assert re.search(regex, line).group(1) == "0.9312"
    assert re.search(regex, f"{name}=1.5e-05;").group(1) == "1.5e-05"
    others = [n for n in CLASSIFIER_METRICS if n != name]
    assert not any(re.search(regex, f"{other}=0.5;") for other in others)


def test_quality_gate_uses_configured_metric_and_threshold(asl, dev):
    cfg = dev.built.cfg.classifier
    read = asl["States"]["Read quality metric"]
    assert read["QueryLanguage"] == "JSONata"
    assert f"MetricName = '{cfg.quality_metric}'" in read["Output"]
    assert "FinalMetricDataList" in read["Output"]
    gate = asl["States"]["Quality gate"]
    conditions = {c["Next"]: c["Condition"] for c in gate["Choices"]}
    assert f"< {cfg.quality_threshold}" in conditions["Quality gate failed"]
    assert f"$states.input.quality.champion - {cfg.champion_tolerance}" in conditions["Worse than the champion"]
    assert gate["Default"] == "Read model version"
    cause = asl["States"]["Quality gate failed"]["Cause"]
    assert cfg.quality_metric in cause and str(cfg.quality_threshold) in cause and "below" in cause


def test_publish_writes_the_approval_record_to_ssm(asl, dev):
    state = asl["States"]["Publish approved model"]
    assert state["Resource"].endswith(":states:::aws-sdk:ssm:putParameter")
    params = state["Parameters"]
    assert params["Name"] == "/headlines/dev/model/approved"
    assert params["Type"] == "String" and params["Overwrite"] is True
    assert params["Value.$"] == "States.JsonToString($.approved)"
    output = asl["States"]["Read quality metric"]["Output"]
    for field in ("model_data_url", "metrics", "execution_id", "training_job_name"):
        assert f"'{field}'" in output


def test_model_version_comes_from_the_artifact_and_reaches_both_parameters(asl, dev):
    read = asl["States"]["Read model version"]
    assert read["Parameters"] == {"model_data_url.$": "$.approved.model_data_url", "details": True}
    assert read["ResultPath"] == "$.identity"
    # the registration step puts it in the approval record
    assert "'model_version': $id.model_version" in asl["States"]["Prepare registration"]["Output"]
    point = asl["States"]["Point serving at the model"]["Parameters"]
    assert point["Name"] == "/headlines/dev/model/serving"
    # '<model_version> <model_data_url>': the serving stack splits it (infra/serving.py)
    assert point["Value.$"] == "States.Format('{} {}', $.approved.model_version, $.approved.model_data_url)"
    function = next(
        f for f in dev.resources(dev.pipeline_name, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "model_identity.handler"
    )
    assert function["Properties"]["Runtime"] == "python3.12"


def test_both_parameters_belong_to_the_stack_and_start_as_none(dev):
    parameters = {p["Properties"]["Name"]: p for p in dev.resources(dev.pipeline_name, "AWS::SSM::Parameter").values()}
    assert set(parameters) == {"/headlines/dev/model/approved", "/headlines/dev/model/serving"}
    for parameter in parameters.values():
        assert parameter["Properties"]["Value"].split(" ")[0] == "none" and parameter["Properties"]["Type"] == "String"
        assert parameter.get("DeletionPolicy", "Delete") == "Delete"  # a destroy leaves no pointer behind


def test_state_machine_logs_all_and_is_traced(dev):
    dev.template(dev.pipeline_name).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
        },
    )


def test_state_machine_may_write_only_the_two_model_parameters(dev):
    policies = {name: p for name, p in dev.resources(dev.pipeline_name, "AWS::IAM::Policy").items()
                if name.startswith("PipelineStateMachineRole")}
    puts = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "ssm:PutParameter" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    resources = sorted(json.dumps(r) for s in puts for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]))
    assert len(resources) == 2
    assert resources[0].endswith(':parameter/headlines/dev/model/approved"]]}')
    assert resources[1].endswith(':parameter/headlines/dev/model/serving"]]}')


def test_failures_are_notified_on_an_encrypted_topic(dev):
    template = dev.template(dev.pipeline_name)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": Match.object_like({"status": ["FAILED", "TIMED_OUT", "ABORTED"]}),
                }
            ),
            "Targets": Match.array_with([Match.object_like({"Arn": Match.any_value()})]),
        },
    )
    # the topic policy denies plain HTTP
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}},
    )


def test_ingest_function(dev):
    dev.template(dev.pipeline_name).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "ingest.handler",
            "Runtime": "python3.12",
            "TracingConfig": {"Mode": "Active"},
            "Environment": {"Variables": Match.object_like({"DATA_BUCKET": Match.any_value()})},
        },
    )
    function = next(f for f in dev.resources(dev.pipeline_name, "AWS::Lambda::Function").values() if f["Properties"].get("Handler") == "ingest.handler")
    assert "AWSLambdaPowertoolsPythonV3-python312-x86_64:" in json.dumps(function["Properties"]["Layers"])


def test_outputs(dev):
    outputs = dev.templates[dev.pipeline_name]["Outputs"]
    for key in ("StateMachineArn", "DataBucketName", "ArtifactsBucketName", "NotebookName", "ApprovedModelParameter", "ServingModelParameter"):
        assert key in outputs
    assert outputs["NotebookName"]["Value"] == "headlines-dev-notebook"
