"""The data scientists' notebook instance.

Amazon Linux 2023 platform (``notebook-al2023-v1``), IMDSv2 only, KMS-encrypted volume, root
access off. It opens on the project: the repository (``notebook.repository_url``) is its
default code repository (``AWS::SageMaker::CodeRepository``), which SageMaker clones into
``~/SageMaker/<repository>`` when it creates the instance (a failed clone fails the instance,
visibly). Its lifecycle configuration

- installs an idle auto-stop: a systemd timer (AL2023 has no cron) that stops the instance
  after ``idle_minutes`` without Jupyter activity and without a busy kernel, and
- builds, once and in the background, a conda environment with the project installed and
  registers it as the Jupyter kernel ``headlines`` on every start; a file
  ``HEADLINES-KERNEL-READY.txt`` or ``HEADLINES-KERNEL-FAILED.txt`` in the file browser says
  how that went (SageMaker aborts lifecycle scripts that run longer than 5 minutes).

Its role may read the data and artifacts, write ``scratch/``, start and follow the project's
pipeline, run training jobs (named ``<project>-...``) with the training role (``iam:PassRole``
on that role only, to SageMaker only), read their logs, read the approved-model parameters and
call the project's endpoint.

Direct internet access stays enabled: the instance has no VPC here (a VPC with NAT gateways
would cost more than the notebook), and cloning the repository needs the internet.
"""
from __future__ import annotations

import base64
import re
import shlex
from typing import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from headlines.config import HeadlinesConfig
from infra import nag
from headlines.naming import endpoint_name, pipeline_stack_name, resource_prefix, serving_stack_name
from infra.sagemaker_role import key_statements, log_group_statement
from infra.storage import SCRATCH_PREFIX, Storage

PLATFORM = "notebook-al2023-v1"

AUTOSTOP_PY = r'''#!/usr/bin/env python3
"""Stops this notebook instance after IDLE_MINUTES without Jupyter activity (headlines)."""
import datetime, json, ssl, subprocess, sys, urllib.request

IDLE_MINUTES = int(sys.argv[1]) if len(sys.argv) > 1 else 60
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def get(path):
    for scheme in ("https", "http"):
        try:
            with urllib.request.urlopen(scheme + "://localhost:8443" + path, context=CTX, timeout=10) as r:
                return json.load(r)
        except Exception:
            continue
    return None


def parse(ts):
    return datetime.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)


def main():
    status, kernels = get("/api/status"), get("/api/kernels")
    if status is None or kernels is None:
        return  # Jupyter not answering (starting up): never stop on missing information
    if any(k.get("execution_state") == "busy" for k in kernels):
        return
    stamps = [parse(status["last_activity"])] + [parse(k["last_activity"]) for k in kernels if k.get("last_activity")]
    idle = datetime.datetime.now(datetime.timezone.utc) - max(stamps)
    if idle < datetime.timedelta(minutes=IDLE_MINUTES):
        return
    with open("/opt/ml/metadata/resource-metadata.json") as f:
        meta = json.load(f)
    name, region = meta["ResourceName"], meta["ResourceArn"].split(":")[3]
    print("idle for %s: stopping %s" % (idle, name), flush=True)
    try:
        import boto3
    except ImportError:
        subprocess.run(["aws", "sagemaker", "stop-notebook-instance", "--region", region,
                        "--notebook-instance-name", name], check=True)
    else:
        boto3.client("sagemaker", region_name=region).stop_notebook_instance(NotebookInstanceName=name)


main()
'''


def repository_folder(repository_url: str) -> str:
    """Where SageMaker clones the default code repository: ~/SageMaker/<name of the repository>."""
    name = repository_url.rstrip("/").rsplit("/", 1)[-1]
    return "/home/ec2-user/SageMaker/" + (name[:-4] if name.endswith(".git") else name)


def on_create_script(cfg: HeadlinesConfig) -> str:
    # SageMaker clones the repository itself (DefaultCodeRepository) before this runs.
    return "#!/bin/bash\nset -eu\necho 'headlines: project in {}'\n".format(repository_folder(cfg.notebook.repository_url))


KERNEL = "headlines"


def on_start_script(cfg: HeadlinesConfig) -> str:
    minutes = int(cfg.notebook.idle_minutes)
    project = shlex.quote(repository_folder(cfg.notebook.repository_url))
    return f"""#!/bin/bash
set -eu
# 1. Idle auto-stop after {minutes} minutes, checked every 5 minutes by a systemd timer
#    (Amazon Linux 2023 has no cron daemon).
mkdir -p /usr/local/headlines
cat >/usr/local/headlines/autostop.py <<'PYEOF'
{AUTOSTOP_PY.strip()}
PYEOF
PYTHON=/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
cat >/etc/systemd/system/headlines-autostop.service <<UNITEOF
[Unit]
Description=headlines: stop this notebook instance after {minutes} idle minutes
[Service]
Type=oneshot
ExecStart=$PYTHON /usr/local/headlines/autostop.py {minutes}
UNITEOF
cat >/etc/systemd/system/headlines-autostop.timer <<'UNITEOF'
[Unit]
Description=headlines: idle check every 5 minutes
[Timer]
OnBootSec=10min
OnUnitActiveSec=5min
[Install]
WantedBy=timers.target
UNITEOF
systemctl daemon-reload
systemctl enable --now headlines-autostop.timer
# 2. A Jupyter kernel "{KERNEL}" with the project installed. The environment lives on the
#    persistent volume (built once, in the background: lifecycle scripts must end within
#    5 minutes); the kernel spec is registered again on every start. The outcome is a file
#    in the Jupyter file browser, so a failure is visible.
PROJECT={project}
ENV=/home/ec2-user/SageMaker/.envs/{KERNEL}
cat >/usr/local/headlines/kernel.sh <<KERNELEOF
#!/bin/bash
set -eu
rm -f /home/ec2-user/SageMaker/HEADLINES-KERNEL-*.txt
if [ ! -x "$ENV/bin/python" ]; then
  /home/ec2-user/anaconda3/bin/conda create --yes --quiet --prefix "$ENV" python=3.11 ipykernel
  "$ENV/bin/pip" install --quiet -c "$PROJECT/constraints.txt" -e "$PROJECT[local]"
fi
"$ENV/bin/python" -m ipykernel install --user --name {KERNEL} --display-name "Python ({KERNEL} project)"
echo "kernel {KERNEL} ready: $ENV" >/home/ec2-user/SageMaker/HEADLINES-KERNEL-READY.txt
KERNELEOF
chmod +x /usr/local/headlines/kernel.sh
LOG=/home/ec2-user/SageMaker/.headlines-kernel.log
nohup sudo -u ec2-user -i bash -c "/usr/local/headlines/kernel.sh >$LOG 2>&1 || \\
  {{ echo 'installing the {KERNEL} kernel failed, see ~/SageMaker/.headlines-kernel.log'; tail -20 $LOG; }} \\
  >/home/ec2-user/SageMaker/HEADLINES-KERNEL-FAILED.txt" >/dev/null 2>&1 &
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Notebook(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
        storage: Storage,
        training_role: iam.IRole,
        state_machine_name: str,
        parameter_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = resource_prefix(cfg)
        self.notebook_name = f"{prefix}-notebook"
        notebook_arn = stack.format_arn(
            service="sagemaker", resource="notebook-instance", resource_name=self.notebook_name.lower()
        )
        region, account, partition = stack.region, stack.account, stack.partition
        state_machine_arn = f"arn:{partition}:states:{region}:{account}:stateMachine:{state_machine_name}"
        executions_arn = f"arn:{partition}:states:{region}:{account}:execution:{state_machine_name}:*"
        stack_arns = [
            f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/*"
            for name in (pipeline_stack_name(cfg), serving_stack_name(cfg))
        ]

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Notebook instance of the headlines project (data, scratch/, the pipeline, training jobs, the endpoint)",
        )
        for statement in [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[storage.data.arn_for_objects("*"), storage.artifacts.arn_for_objects("*")],
            ),
            iam.PolicyStatement(actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], resources=[storage.data.arn_for_objects(SCRATCH_PREFIX + "*")]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.data.bucket_arn, storage.artifacts.bucket_arn]),
            *key_statements(storage.key.key_arn),
            log_group_statement(stack, "/aws/sagemaker/NotebookInstances"),
            # The idle auto-stop stops this instance, and only this one.
            iam.PolicyStatement(
                actions=["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"], resources=[notebook_arn]
            ),
            # Start and follow the project's pipeline (headlines pipeline start --wait / status).
            iam.PolicyStatement(actions=["states:StartExecution", "states:ListExecutions", "states:DescribeStateMachine"], resources=[state_machine_arn]),
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"], resources=[executions_arn]
            ),
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=stack_arns),
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
                stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/")) for name in parameter_names
            ]),
            # Training jobs of its own (names start with the project name), run by the training role.
            iam.PolicyStatement(
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
                resources=[f"arn:{partition}:sagemaker:{region}:{account}:training-job/{cfg.project_name.lower()}-*"],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                actions=["logs:GetLogEvents", "logs:DescribeLogStreams"],
                resources=[f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs:*"],
            ),
            # Call the project's model directly (the REST API itself is public, optionally behind a key).
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{endpoint_name(cfg)}"],
            ),
        ]:
            self.role.add_to_principal_policy(statement)
        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageData", ""), "Data scientists read every object of the project's data bucket (and write only scratch/)."),
            (nag.objects_under("StorageArtifacts", ""), "Data scientists read the trained artifacts (embeddings, models) of the project."),
            (nag.objects_under("StorageData", SCRATCH_PREFIX), "The notebook writes its experiments under scratch/ only (expires after 30 days)."),
            (nag.log_streams_of("/aws/sagemaker/NotebookInstances"), "The notebook writes log streams of the NotebookInstances log group only."),
            (rf"Resource::arn:{nag.PARTITION}:states:{nag.REGION}:{nag.ACCOUNT}:execution:{re.escape(state_machine_name)}:\*", "Follows the executions of the project's state machine only (names are made per execution)."),
            (rf"Resource::arn:{nag.PARTITION}:cloudformation:{nag.REGION}:{nag.ACCOUNT}:stack/[A-Za-z0-9-]+/\*", "Reads the outputs of the project's two stacks (the stack id suffix is generated)."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:training-job/{re.escape(cfg.project_name.lower())}-\*", "Training jobs whose names start with the project name only."),
            (rf"Resource::arn:{nag.PARTITION}:logs:{nag.REGION}:{nag.ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:\*", "Reads the training jobs' log streams (named per job) to follow them."),
        )

        # The project opens in Jupyter: SageMaker clones it into ~/SageMaker/<repository> when
        # the instance is created; a clone that fails makes the instance fail (visible in the
        # console and the stack events), not a hidden log.
        repository = sagemaker.CfnCodeRepository(
            self,
            "Repository",
            code_repository_name=f"{prefix}-project",
            git_config=sagemaker.CfnCodeRepository.GitConfigProperty(repository_url=cfg.notebook.repository_url),
        )
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{self.notebook_name}-lifecycle",
            on_create=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(content=_b64(on_create_script(cfg)))],
            on_start=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(content=_b64(on_start_script(cfg)))],
        )
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=self.notebook_name,
            instance_type=cfg.notebook.instance_type,
            role_arn=self.role.role_arn,
            kms_key_id=storage.key.key_id,
            root_access="Disabled",
            direct_internet_access="Enabled",
            volume_size_in_gb=cfg.notebook.volume_size_gb,
            # Amazon Linux 2023 (AL2 notebook platforms reached end of support on 2026-06-30).
            platform_identifier=PLATFORM,
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version="2"
            ),
            default_code_repository=repository.attr_code_repository_name,
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
        )
        nag.suppress(
            self.instance,
            ("AwsSolutions-SM1", "The project deploys no VPC (NAT gateways would cost more than the notebook); the instance has no inbound access."),
            ("AwsSolutions-SM3", "Direct internet access is needed to clone the project repository and install packages, as no VPC/NAT is deployed."),
        )
