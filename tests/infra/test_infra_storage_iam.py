"""Storage, IAM and notebook properties of the synthesized pipeline stack (dev defaults)."""
from __future__ import annotations

import base64
import json
import re
import subprocess

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.xdist_group("infra")

# Actions that have no resource-level permissions: the only ones allowed on Resource "*".
ACTIONS_WITHOUT_RESOURCES = {
    "ecr:GetAuthorizationToken",
    "sagemaker:ListModelPackages",
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # Added by CDK's Step Functions SageMaker .sync integration (not under our control).
    "sagemaker:ListTags",
    # Granted on "*" by CDK's LogRetention function (infra/service_logs.py), one per stack for
    # every group it manages (not under our control).
    "logs:PutRetentionPolicy",
    "logs:DeleteRetentionPolicy",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _buckets(dev):
    return dev.resources(dev.pipeline_name, "AWS::S3::Bucket")


def test_four_buckets_block_public_access_and_are_encrypted(dev):
    buckets = _buckets(dev)
    assert len(buckets) == 4  # data, artifacts, results (infra/results_store.py), access logs
    algorithms = []
    for props in (b["Properties"] for b in buckets.values()):
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithms.append(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
        assert props["LifecycleConfiguration"]["Rules"], "every bucket has lifecycle rules"
    # data, artifacts and results with the project KMS key, the access-log bucket with SSE-S3
    assert sorted(algorithms) == ["AES256", "aws:kms", "aws:kms", "aws:kms"]


def test_artifacts_bucket_is_versioned_and_expires_old_versions(dev):
    versioned = [b for b in _buckets(dev).values() if b["Properties"].get("VersioningConfiguration")]
    assert len(versioned) == 1
    props = versioned[0]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert "NoncurrentVersionExpiration" in rules["expire-old-versions"]
    assert rules["expire-data-capture"]["Prefix"] == "datacapture/"


def test_data_buckets_log_to_the_access_log_bucket(dev):
    logging = [b["Properties"].get("LoggingConfiguration") for b in _buckets(dev).values()]
    prefixes = sorted(config["LogFilePrefix"] for config in logging if config)
    assert prefixes == ["artifacts/", "data/", "results/"]


def test_every_bucket_policy_denies_insecure_transport(dev):
    policies = dev.resources(dev.pipeline_name, "AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*" for s in denies)
        assert any("s3:TlsVersion" in json.dumps(s.get("Condition", {})) for s in denies)


def test_dev_stage_deletes_buckets_and_objects_on_destroy(dev):
    for bucket in _buckets(dev).values():
        assert bucket["DeletionPolicy"] == "Delete"
        assert bucket["UpdateReplacePolicy"] == "Delete"
    auto_delete = dev.resources(dev.pipeline_name, "Custom::S3AutoDeleteObjects")
    assert len(auto_delete) == 4
    key = next(iter(dev.resources(dev.pipeline_name, "AWS::KMS::Key").values()))
    assert key["DeletionPolicy"] == "Delete"


def test_kms_key_rotates(dev):
    dev.template(dev.pipeline_name).has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def _policy_statements(dev, stack):
    for logical_id, policy in dev.resources(stack, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield logical_id, statement


@pytest.mark.parametrize("stack", ["pipeline", "serving"])
def test_wildcard_resources_only_for_actions_without_resource_level_permissions(dev, stack):
    name = dev.pipeline_name if stack == "pipeline" else dev.serving_name
    for logical_id, statement in _policy_statements(dev, name):
        if statement["Effect"] != "Allow":
            continue
        if "*" in _as_list(statement["Resource"]):
            actions = set(_as_list(statement["Action"]))
            assert actions <= ACTIONS_WITHOUT_RESOURCES, (logical_id, actions)
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (logical_id, action)


def test_no_managed_policies_except_api_gateway_logging(dev):
    for stack in (dev.pipeline_name, dev.serving_name):
        for logical_id, role in dev.resources(stack, "AWS::IAM::Role").items():
            managed = json.dumps(role["Properties"].get("ManagedPolicyArns", []))
            assert "AmazonSageMakerFullAccess" not in managed
            if managed != "[]":
                # CDK's auto-delete and LogRetention providers (Lambda basic execution) and API Gateway's account role
                assert "AWSLambdaBasicExecutionRole" in managed or "AmazonAPIGatewayPushToCloudWatchLogs" in managed, logical_id


def _role_statements(dev, stack, role_prefix):
    out = []
    for policy in dev.resources(stack, "AWS::IAM::Policy").values():
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if f'"{role_prefix}' in roles:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert out, role_prefix
    return out


def test_training_role_is_scoped_to_its_prefixes_log_group_and_images(dev):
    statements = _role_statements(dev, dev.pipeline_name, "TrainingRole")
    text = json.dumps(statements)
    assert "/raw/*" in text and "/embeddings/*" in text and "/models/*" in text
    assert "log-group:/aws/sagemaker/TrainingJobs" in text
    ecr = [s for s in statements if "ecr:BatchGetImage" in _as_list(s["Action"])]
    assert ecr and all("repository/" in json.dumps(r) for r in _as_list(ecr[0]["Resource"]))
    assert "repository/blazingtext" in json.dumps(ecr) and "repository/mxnet-training" in json.dumps(ecr)
    puts = [s for s in statements if "s3:PutObject" in _as_list(s["Action"])]
    assert all("/raw/" not in json.dumps(s["Resource"]) for s in puts), "training never writes the raw data"
    listing = [s for s in statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing and all("s3:prefix" in json.dumps(s["Condition"]) for s in listing)


def test_ingest_function_writes_raw_prefix_only(dev):
    statements = _role_statements(dev, dev.pipeline_name, "PipelineIngestRole")
    writes = [s for s in statements if "s3:PutObject" in _as_list(s["Action"])]
    assert len(writes) == 1 and json.dumps(writes[0]["Resource"]).endswith('/raw/*"]]}')


def test_ingest_may_list_the_data_bucket_so_a_missing_key_is_404_not_403(dev):
    """S3 answers HeadObject on a missing key with 404 only given s3:ListBucket on the bucket,
    and a HeadObject request carries no s3:prefix: the statement must have no prefix condition."""
    statements = _role_statements(dev, dev.pipeline_name, "PipelineIngestRole")
    listing = [s for s in statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing and all("Condition" not in s for s in listing)


def test_notebook_instance_is_locked_down(dev):
    dev.template(dev.pipeline_name).has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {
            "InstanceType": "ml.t3.medium",
            "RootAccess": "Disabled",
            "KmsKeyId": Match.any_value(),
            "VolumeSizeInGB": 10,
            "LifecycleConfigName": Match.any_value(),
            "PlatformIdentifier": "notebook-al2023-v1",
            "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "2"},
        },
    )


def _joined(value):
    """A template string, Fn::Base64 / Fn::Join resolved with placeholders for references."""
    if isinstance(value, str):
        return value
    if "Fn::Base64" in value:
        return _joined(value["Fn::Base64"])
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(_joined(part) for part in parts)
    if "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", value["Fn::Sub"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise ValueError(value)


def _lifecycle_scripts(synth):
    config = next(iter(synth.resources(synth.pipeline_name, "AWS::SageMaker::NotebookInstanceLifecycleConfig").values()))
    props = config["Properties"]

    def decode(hooks):
        content = hooks[0]["Content"]
        return base64.b64decode(content).decode() if isinstance(content, str) else _joined(content)
    return decode(props["OnCreate"]), decode(props["OnStart"])


def test_notebook_opens_on_the_project_deployed_with_the_stack(dev):
    """No git repository that may not exist: the project is an asset the lifecycle unpacks."""
    assert dev.built.cfg.notebook.repository_url is None
    assert not dev.resources(dev.pipeline_name, "AWS::SageMaker::CodeRepository")
    (instance,) = dev.resources(dev.pipeline_name, "AWS::SageMaker::NotebookInstance").values()
    assert "DefaultCodeRepository" not in instance["Properties"]
    _, on_start = _lifecycle_scripts(dev)
    project = dev.built.pipeline.node.find_child("NotebookProject")
    assert f"VERSION={project.asset_hash}" in on_start
    assert re.search(rf'"cdk-hnb659fds-assets-<AWS::AccountId>-[a-z0-9-]+" "{project.asset_hash}\.(tar\.)?gz"', on_start)
    assert "/home/ec2-user/SageMaker/headlines-mlops" in on_start
    # an older copy is renamed aside, never overwritten
    assert 'mv /home/ec2-user/SageMaker/headlines-mlops "/home/ec2-user/SageMaker/headlines-mlops.before-' in on_start
    statements = _role_statements(dev, dev.pipeline_name, "NotebookRole")
    reads = [s for s in statements if s["Action"] == "s3:GetObject" and f"/{project.asset_hash}." in json.dumps(s["Resource"])]
    assert len(reads) == 1 and "cdk-hnb659fds-assets-" in json.dumps(reads[0]["Resource"])


def test_the_project_copy_holds_what_the_kernel_and_the_notebooks_need(dev):
    import tarfile

    project = dev.built.pipeline.node.find_child("NotebookProject")
    archive = dev.outdir / project.asset_path
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for needed in ("pyproject.toml", "setup.py", "constraints.txt", "cdk.json", "notebooks/workshop.py",
                   "notebooks/01-word-vectors.ipynb", "headlines/config.py", "training/train.py", "inference/inference.py"):
        assert f"headlines-mlops/{needed}" in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n]


def test_a_configured_repository_is_cloned_instead_and_a_new_url_is_a_new_repository(tmp_path):
    from infra.notebook import on_start_script, repository_name

    first, second = repository_name("p", "https://example.com/a.git"), repository_name("p", "https://example.com/b.git")
    assert first != second and first.startswith("p-") and len(first) <= 63
    script = on_start_script("https://example.com/team/fork.git", 60)
    assert "PROJECT=/home/ec2-user/SageMaker/fork" in script and "VERSION=" not in script


def test_notebook_lifecycle_installs_the_kernel_in_background_and_a_systemd_idle_stop(dev):
    _, on_start = _lifecycle_scripts(dev)
    assert "crontab" not in on_start  # Amazon Linux 2023 has no cron daemon
    assert "systemctl enable --now headlines-autostop.timer" in on_start
    assert f"autostop.py {dev.built.cfg.notebook.idle_minutes}" in on_start and "stop_notebook_instance" in on_start
    assert "ipykernel install --user --name headlines" in on_start
    assert "install --quiet -c \"$PROJECT/constraints.txt\" -e \"$PROJECT[local]\"" in on_start
    assert "HEADLINES-KERNEL-FAILED.txt" in on_start  # a failed install is visible in Jupyter
    (background,) = [line for line in on_start.splitlines() if line.startswith("nohup ")]
    assert on_start.rstrip().endswith("&")


def test_notebook_lifecycle_scripts_are_valid_bash_and_python(dev, tmp_path):
    on_create, on_start = _lifecycle_scripts(dev)
    for name, script in (("on_create.sh", on_create), ("on_start.sh", on_start)):
        path = tmp_path / name
        path.write_text(script)
        subprocess.run(["bash", "-n", str(path)], check=True)
    for python in re.findall(r"<<'PYEOF'\n(.*?)\nPYEOF", on_start, re.S):
        compile(python, "lifecycle.py", "exec")


def test_notebook_lifecycle_keeps_to_the_documented_contract(dev):
    """CreateNotebookInstanceLifecycleConfig: at most 16,384 characters a script; run as root with
    PATH=/sbin:bin:/usr/sbin:/usr/bin; only paths AWS (or AL2023) documents (infra/notebook.py)."""
    from infra.notebook import DOCUMENTED_PATHS, SCRIPT_LIMIT

    for script in _lifecycle_scripts(dev):
        encoded = base64.b64encode(script.encode()).decode()
        assert len(encoded) <= SCRIPT_LIMIT, len(encoded)
        for path in set(re.findall(r"(?<![\w.$])(/(?:home|opt|etc|usr|var)/[^\s'\"$;|&)]+)", script)):
            assert any(path == known or path.startswith(known + "/") or path.startswith(known + ".")
                       for known in DOCUMENTED_PATHS), path
        for command in ("aws ", "conda "):  # not on the lifecycle PATH: absolute paths only
            assert not re.search(rf"(^|[;&|]\s*|\n\s*){command}", script), command


def test_notebook_role_may_stop_only_itself(dev):
    statements = _role_statements(dev, dev.pipeline_name, "NotebookRole")
    stop = [s for s in statements if "sagemaker:StopNotebookInstance" in _as_list(s["Action"])]
    assert len(stop) == 1
    assert "notebook-instance/headlines-dev-notebook" in json.dumps(stop[0]["Resource"])


def test_notebook_role_starts_the_pipeline_and_passes_only_the_training_role(dev):
    statements = _role_statements(dev, dev.pipeline_name, "NotebookRole")
    start = [s for s in statements if "states:StartExecution" in _as_list(s["Action"])]
    assert len(start) == 1 and json.dumps(start[0]["Resource"]).endswith(':stateMachine:headlines-dev-pipeline"]]}')
    follow = [s for s in statements if "states:GetExecutionHistory" in _as_list(s["Action"])]
    assert follow and ":execution:headlines-dev-pipeline:*" in json.dumps(follow[0]["Resource"])
    (passing,) = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    (training_role,) = [k for k in dev.resources(dev.pipeline_name, "AWS::IAM::Role") if k.startswith("TrainingRole")]
    assert passing["Resource"] == {"Fn::GetAtt": [training_role, "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    train = [s for s in statements if "sagemaker:CreateTrainingJob" in _as_list(s["Action"])]
    assert train and json.dumps(train[0]["Resource"]).endswith(':training-job/headlines-dev-*"]]}')
    invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in _as_list(s["Action"])]
    assert invoke and json.dumps(invoke[0]["Resource"]).endswith(':endpoint/headlines-dev"]]}')


def test_model_role_reads_current_and_previous_models(dev):
    statements = _role_statements(dev, dev.serving_name, "ServingRole")
    reads = [s for s in statements if "s3:GetObject" in _as_list(s["Action"])]
    assert len(reads) == 1
    resource = json.dumps(reads[0]["Resource"])
    # the models, and what `headlines batch` hands a transform job (headlines/transform.py)
    assert "ArtifactsBucketName" in resource and '"/models/*"' in resource and '"/batch/input/*"' in resource
