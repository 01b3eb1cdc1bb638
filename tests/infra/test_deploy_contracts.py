"""Deploy- and run-time contracts of AWS that synthesis, cfn-lint and cdk-nag do not check, on the
dev, prod and GPU configurations (tests/infra/deploy_contracts.py names each contract).

One test per class of finding: every alarm's and rule's topic admits its publisher; every
gateway response stays JSON for any message; no retry of a quota error; every log group has a
retention and its stage's fate; each stage reaches only its own resources; the deploy role of
the project's bootstrap template may resolve every SSM-typed parameter; every instance type the
configuration accepts gets only the parameters SageMaker allows for it.
"""
from __future__ import annotations

import fnmatch
import json
import re
from typing import Dict, List

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from deploy_contracts import (
    ACCOUNT,
    PARTITION,
    REGION,
    bootstrap_roles,
    execution_timeout_violations,
    gateway_response_violations,
    log_group_violations,
    quota_retry_violations,
    render_gateway_template,
    results_violations,
    role_allows,
    ssm_parameter_arn,
    ssm_typed_parameters,
    state_machine_definitions,
    topic_policy_violations,
)
from infra_support import Synth, synthesize

from headlines.config import ConfigError, load_config
from headlines.instance_types import accepts_volume_kms_key, family, has_instance_storage, known_types
from infra.bootstrap_template import PINNED_TEMPLATE, PROJECT_TEMPLATE, project_template
from infra.endpoint import CapacityProps, production_variant
from infra.nag import flatten_cfn_reference
from infra.rest_api import GATEWAY_ERRORS, error_template

pytestmark = pytest.mark.xdist_group("contracts")

CONFIGURATIONS = {
    "dev": {},
    "prod": {"headlines.stage": "prod"},
    "gpu": {"headlines.classifier.gpu": "true", "headlines.serving.instance_type": "ml.g4dn.xlarge"},
}


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Dict[str, Synth]:
    return {name: synthesize(tmp_path_factory.mktemp(f"cdk-{name}"), context) for name, context in CONFIGURATIONS.items()}


@pytest.fixture(params=sorted(CONFIGURATIONS))
def app(request, apps) -> Synth:
    return apps[request.param]


# ---- 3. alarms and rules reach their topic -------------------------------------------------------
def test_every_alarm_and_rule_may_publish_to_its_topic(app):
    assert topic_policy_violations(app.templates) == []


def test_the_endpoint_alarms_publish_to_the_alert_topic_through_an_import(apps):
    """The check above follows the serving stack's Fn::ImportValue to the pipeline stack's topic."""
    from deploy_contracts import topic_publishers

    publishers = topic_publishers(apps["dev"].templates)
    assert {service for _, service, _ in publishers} == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    assert any(what.startswith("HeadlinesServing/") for _, _, what in publishers)


# ---- live results: Firehose, Glue, Athena, the dashboard, the schedules (issue #26) ---------------
def test_the_results_resources_pass_what_aws_checks_at_create_time(app):
    assert results_violations(app.templates) == []
    assert list(app.resources(app.pipeline_name, "AWS::KinesisFirehose::DeliveryStream"))


def test_the_results_contract_fails_when_broken(apps):
    """Each check bites: a template broken the way AWS would refuse it is reported."""
    import copy

    def broken(edit):
        templates = copy.deepcopy(apps["dev"].templates)
        edit(templates)
        return results_violations(templates)

    def resources(templates, type_):
        return [r for t in templates.values() for r in t["Resources"].values() if r["Type"] == type_]

    def small_buffer(t):
        resources(t, "AWS::KinesisFirehose::DeliveryStream")[0]["Properties"]["ExtendedS3DestinationConfiguration"]["BufferingHints"]["SizeInMBs"] = 32

    def other_table(t):
        conversion = resources(t, "AWS::KinesisFirehose::DeliveryStream")[0]["Properties"]["ExtendedS3DestinationConfiguration"]
        conversion["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] = "other"

    def no_glue_read(t):
        for policy in resources(t, "AWS::IAM::Policy"):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "glue:GetTable" in statement["Action"] and "glue:GetDatabase" not in statement["Action"]:
                    statement["Action"] = ["glue:GetTable"]

    def tiny_cutoff(t):
        resources(t, "AWS::Athena::WorkGroup")[0]["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] = 1024

    def unknown_database(t):
        resources(t, "AWS::Athena::NamedQuery")[0]["Properties"]["Database"] = "nowhere"

    def bad_rate(t):
        next(r for r in resources(t, "AWS::Events::Rule") if "ScheduleExpression" in r["Properties"])["Properties"]["ScheduleExpression"] = "rate(1 minutes)"

    def upper_case(t):
        resources(t, "AWS::Glue::Table")[0]["Properties"]["TableInput"]["Name"] = "Results"

    for edit, expected in ((small_buffer, "at least 64 MiB"), (other_table, "not in the app"), (no_glue_read, "lacks"),
                           (tiny_cutoff, "BytesScannedCutoffValue"), (unknown_database, "database nowhere"),
                           (bad_rate, "rate syntax"), (upper_case, "lower case")):
        violations = broken(edit)
        assert any(expected in v for v in violations), (edit.__name__, violations)


# ---- 6. gateway responses are JSON whatever the message -----------------------------------------
def test_every_gateway_response_renders_to_json_for_adversarial_messages(app):
    assert gateway_response_violations(app.templates) == []


@pytest.mark.parametrize("response_type, status, code, message", GATEWAY_ERRORS)
def test_each_gateway_error_keeps_its_message(response_type, status, code, message):
    hostile = 'quote " backslash \\ newline \n ünï'
    body = json.loads(render_gateway_template(error_template(code, message), hostile, hostile))
    assert body["error"]["code"] == code and body["error"]["message"] == (message if message is not None else hostile)


# ---- 8. quota errors are not retried ------------------------------------------------------------
def test_no_task_retries_a_quota_error(app):
    assert quota_retry_violations(app.templates) == []
    assert list(state_machine_definitions(app.templates))


# ---- 13. time limits ----------------------------------------------------------------------------
def test_the_execution_outlasts_its_jobs_limits(app):
    assert execution_timeout_violations(app.templates) == []


def test_the_classifier_job_limit_is_the_worst_case_of_its_configuration(app):
    from headlines.training_time import RUNTIME_MARGIN, worst_case_seconds

    classifier = app.built.cfg.classifier
    ((_, definition),) = state_machine_definitions(app.templates)
    limit = definition["States"]["Train classifier"]["Parameters"]["StoppingCondition"]["MaxRuntimeInSeconds"]
    worst = worst_case_seconds(classifier.data_rows, classifier.hyperparameters, classifier.training_instance_type)
    assert limit >= worst * RUNTIME_MARGIN


# ---- 10. log groups -----------------------------------------------------------------------------
def test_every_log_group_the_stacks_cause_has_a_retention_and_the_stages_fate(app):
    assert log_group_violations(app.templates, retain=app.built.cfg.retain_data) == []


# ---- 9. names per stage -------------------------------------------------------------------------
def _concrete(pattern: str) -> str:
    return (pattern.replace("<AWS::Partition>", PARTITION).replace("<AWS::Region>", REGION)
            .replace("<AWS::AccountId>", ACCOUNT))


def _allowed_resources(synth: Synth) -> List[str]:
    patterns = []
    for template in synth.templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if statement.get("Effect") == "Allow":
                    resources = statement.get("Resource", [])
                    for item in resources if isinstance(resources, list) else [resources]:
                        patterns.append(_concrete(flatten_cfn_reference(item)))
    return [p for p in patterns if p != "*"]


def _named_resources(synth: Synth) -> List[str]:
    """ARNs of what a stage names itself: training jobs, endpoint, notebook, state machine,
    SSM parameters, its service log streams."""
    cfg = synth.built.cfg
    base = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:"
    arns = []
    for _, definition in state_machine_definitions(synth.templates):
        for prefix in re.findall(r"States\.Format\('([a-z0-9-]+)-\{\}'", json.dumps(definition)):
            job = f"{prefix}-execution1"
            arns += [base.format("sagemaker") + f"training-job/{job}",
                     base.format("logs") + f"log-group:/aws/sagemaker/TrainingJobs:log-stream:{job}/algo-1-1"]
    for template in synth.templates.values():
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::SageMaker::Endpoint":
                arns.append(base.format("sagemaker") + f"endpoint/{props['EndpointName']}")
            if resource["Type"] == "AWS::SageMaker::NotebookInstance":
                arns.append(base.format("sagemaker") + f"notebook-instance/{props['NotebookInstanceName']}")
            if resource["Type"] == "AWS::SSM::Parameter":
                arns.append(ssm_parameter_arn(props["Name"]))
    arns.append(base.format("states") + f"stateMachine:{cfg.project_name}-{cfg.stage}-pipeline")
    return arns


def test_no_role_of_one_stage_reaches_what_the_other_stage_names(apps):
    for mine, theirs in (("dev", "prod"), ("prod", "dev")):
        patterns, names = _allowed_resources(apps[mine]), _named_resources(apps[theirs])
        assert len(names) >= 6
        reached = [(pattern, name) for pattern in patterns for name in names if fnmatch.fnmatchcase(name, pattern)]
        assert reached == [], f"{mine}'s roles reach {theirs}'s resources"


# ---- 1. the deploy role resolves the SSM-typed parameters ---------------------------------------
def test_the_project_bootstrap_template_is_the_pinned_one_plus_one_statement():
    assert PROJECT_TEMPLATE.read_text(encoding="utf-8") == project_template(PINNED_TEMPLATE.read_text(encoding="utf-8")), (
        "infra/bootstrap-template.yaml is stale: python -m infra.bootstrap_template")


def test_the_deploy_role_of_the_project_bootstrap_may_resolve_every_ssm_parameter(app):
    """CloudFormation resolves AWS::SSM::Parameter::Value<> parameters during CreateChangeSet
    with the caller's credentials: cdk deploy's caller is the bootstrap's deploy role."""
    project, pinned = bootstrap_roles(PROJECT_TEMPLATE), bootstrap_roles(PINNED_TEMPLATE)
    parameters = ssm_typed_parameters(app.templates)
    assert parameters, "the serving stack resolves the approved model from SSM"
    version_parameter = "/cdk-bootstrap/hnb659fds/version"  # every CDK stack's, readable by design
    assert any(name != version_parameter for _, name in parameters)
    for stack, name in parameters:
        arn = ssm_parameter_arn(name)
        assert role_allows(project["DeploymentActionRole"], "ssm:GetParameters", arn), (stack, name)
        # the reason for the project's template: CDK's default one refuses the project's own
        assert role_allows(pinned["DeploymentActionRole"], "ssm:GetParameters", arn) == (name == version_parameter), name
    # the bootstrap version parameter, which every CDK stack's rule reads, stays readable
    version = ssm_parameter_arn("/cdk-bootstrap/hnb659fds/version")
    assert role_allows(project["DeploymentActionRole"], "ssm:GetParameters", version)


def test_the_deploy_role_may_run_what_the_cdk_cli_does_with_it(apps):
    """cdk deploy: change sets (or direct create/update) and destroy with the deploy role, which
    passes the execution role to CloudFormation; assets are published with the file-publishing
    role into the staging bucket; the execution role creates every resource type (Administrator
    access, CDK's default) ."""
    roles = bootstrap_roles(PROJECT_TEMPLATE)
    deploy, execution, publishing = roles["DeploymentActionRole"], roles["CloudFormationExecutionRole"], roles["FilePublishingRole"]
    stack_arn = f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/HeadlinesServing/id"
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStacks",
                   "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack"):
        assert role_allows(deploy, action, stack_arn) or action == "cloudformation:DescribeStacks", action
    execution_arn = f"arn:{PARTITION}:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
    assert role_allows(deploy, "iam:PassRole", execution_arn)
    staging = f"arn:{PARTITION}:s3:::cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
    assert role_allows(publishing, "s3:PutObject", f"{staging}/asset.zip")
    assert any(arn.endswith(":policy/AdministratorAccess") for arn in execution["managed"])
    for synth in apps.values():
        for manifest in synth.outdir.glob("*.assets.json"):
            for asset in json.loads(manifest.read_text())["files"].values():
                for destination in asset["destinations"].values():
                    assert "file-publishing-role" in destination["assumeRoleArn"]
                    assert destination["bucketName"].startswith("cdk-hnb659fds-assets-")


# ---- 4. instance types: only the parameters SageMaker allows -----------------------------------
def _one_per_family(use):
    seen = {}
    for instance_type in known_types(use):
        seen.setdefault(family(instance_type), instance_type)
    return sorted(seen.values())


DOCUMENTED_LOCAL_STORAGE = ("ml.g4dn.xlarge", "ml.g5.xlarge", "ml.p4d.24xlarge", "ml.p3dn.24xlarge", "ml.c5d.xlarge",
                            "ml.m5d.large", "ml.r5d.large")
DOCUMENTED_EBS_ONLY = ("ml.c5.xlarge", "ml.c5.2xlarge", "ml.m5.large", "ml.p2.xlarge", "ml.p3.2xlarge", "ml.t2.medium")


def test_the_documented_families_with_local_storage_take_no_volume_key():
    assert not any(accepts_volume_kms_key(t) for t in DOCUMENTED_LOCAL_STORAGE)
    assert all(accepts_volume_kms_key(t) for t in DOCUMENTED_EBS_ONLY)


@pytest.fixture(scope="module")
def job_scope():
    from infra.training_jobs import JobStorage

    stack = Stack(App(), "Jobs")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    return stack, role, JobStorage(data_bucket="data", artifacts_bucket="artifacts", key=kms.Key(stack, "Key"))


def test_every_training_instance_type_gets_a_volume_key_only_where_sagemaker_takes_one(job_scope):
    from aws_cdk import aws_stepfunctions_tasks as tasks

    from infra.training_jobs import TrainingJobProps, training_job_task

    stack, role, storage = job_scope
    for index, instance_type in enumerate(_one_per_family("training")):
        props = TrainingJobProps(job_name_prefix="t", image_uri="1.dkr.ecr.us-east-1.amazonaws.com/i:1",
                                 instance_type=instance_type, max_runtime_seconds=3600, hyperparameters={})
        task = training_job_task(stack, f"Job{index}", props=props, role=role, storage=storage, output_prefix="models/",
                                 algorithm=tasks.AlgorithmSpecification(training_image=tasks.DockerImage.from_registry(props.image_uri)),
                                 hyperparameters={}, channels=[])
        resources = stack.resolve(task.to_state_json())["Parameters"]["ResourceConfig"]
        assert resources["InstanceType"] == instance_type
        assert ("VolumeKmsKeyId" in resources) == (not has_instance_storage(instance_type)), instance_type


def test_every_endpoint_instance_type_gets_a_kms_key_only_where_sagemaker_takes_one():
    for instance_type in _one_per_family("endpoint"):
        capacity = CapacityProps(instance_type=instance_type)
        assert capacity.volume_key == (not has_instance_storage(instance_type)), instance_type
        variant = production_variant(capacity, "model")
        assert variant.instance_type == instance_type and variant.serverless_config is None
    assert not CapacityProps(mode="serverless").volume_key  # serverless endpoints take no KmsKeyId


def test_the_gpu_configuration_trains_without_a_volume_key_on_its_local_storage(apps):
    definition = json.dumps(list(state_machine_definitions(apps["gpu"].templates)))
    configs = re.findall(r'"ResourceConfig": (\{[^}]*\})', definition)
    classifier = [c for c in configs if "ml.g4dn.xlarge" in c]
    assert classifier and "VolumeKmsKeyId" not in classifier[0]
    (config,) = [r for r in apps["gpu"].templates["HeadlinesServing"]["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::EndpointConfig"]
    assert "KmsKeyId" not in config["Properties"]


@pytest.mark.parametrize("setting, value", [
    ("headlines.classifier.instance_type", "ml.c5.xlargee"),
    ("headlines.embeddings.instance_type", "ml.t2.medium"),
    ("headlines.serving.instance_type", "ml.t3.medium"),
    ("headlines.notebook.instance_type", "ml.p3.2xlarge"),
])
def test_an_instance_type_sagemaker_refuses_for_its_use_is_one_config_line(setting, value):
    with pytest.raises(ConfigError) as error:
        load_config({setting: value})
    assert setting in str(error.value) and value in str(error.value) and "\n" not in str(error.value)


# ---- 5. BlazingText's booleans -----------------------------------------------------------------
def test_blazingtext_booleans_go_out_as_aws_documents_them(apps):
    from headlines.hyperparameters import blazingtext_hyperparameters

    values = blazingtext_hyperparameters(apps["dev"].built.cfg)
    assert values["evaluation"] == "True" and values["subwords"] == "False"
    ((_, definition),) = state_machine_definitions(apps["dev"].templates)
    sent = definition["States"]["Train embeddings"]["Parameters"]["HyperParameters"]
    assert sent == values and not {v for v in sent.values() if v.lower() in ("true", "false")} - {"True", "False"}


# ---- 7. the account's API Gateway logging role -------------------------------------------------
def _api_template(overrides):
    from aws_cdk.assertions import Template

    from infra.api import Api
    from infra.stacks import api_props

    stack = Stack(App(), "Api")
    Api(stack, "Api", props=api_props(load_config(overrides)), endpoint_name="e",
        endpoint_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e", model_version="v")
    return Template.from_stack(stack).to_json()


def test_no_stack_touches_the_account_api_gateway_logging_role_unless_asked(apps):
    """AWS::ApiGateway::Account sets one role for the whole account and region: only with
    api.logging_role=create (headlines preflight says when the account has none)."""
    for synth in apps.values():
        for template in synth.templates.values():
            assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Account"]
    created = _api_template({"headlines.api.logging_role": "create"})["Resources"]
    (account,) = [r for r in created.values() if r["Type"] == "AWS::ApiGateway::Account"]
    role = created[account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    assert role["DeletionPolicy"] == "Retain"  # the account setting keeps pointing at it


# ---- 11. serverless cold starts ----------------------------------------------------------------
def test_a_serverless_endpoint_gets_a_timeout_longer_than_its_cold_start():
    from headlines.config import SERVERLESS_MIN_ENDPOINT_TIMEOUT_SECONDS
    from infra.api_function import LAMBDA_TIMEOUT_SECONDS
    from infra.stacks import api_props

    serverless = load_config({"headlines.serving.mode": "serverless"})
    timeout = api_props(serverless).function.endpoint_timeout_seconds
    assert SERVERLESS_MIN_ENDPOINT_TIMEOUT_SECONDS <= timeout and timeout + 2 < LAMBDA_TIMEOUT_SECONDS < 29
    assert api_props(load_config()).function.endpoint_timeout_seconds == 10.0  # instance mode keeps 10 s
    with pytest.raises(ConfigError, match="cold start"):
        load_config({"headlines.serving.mode": "serverless", "headlines.api.endpoint_timeout_seconds": "10"})
