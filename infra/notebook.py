"""The data scientists' notebook instance.

KMS-encrypted volume, root access off, its own least-privilege role (read the data and the
artifacts, write ``scratch/``), and a lifecycle configuration that

- clones the project repository (URL from config) into ``~/SageMaker`` (on create, and on
  start when the folder is missing), and
- installs an idle auto-stop: a cron job that stops the instance after ``idle_minutes``
  without Jupyter activity and without a busy kernel.

SageMaker aborts lifecycle scripts that run longer than 5 minutes, so every slow step (the
clone) runs detached with ``nohup ... &``; the scripts themselves only write files.

Direct internet access stays enabled: the instance has no VPC here (a VPC with NAT gateways
would cost more than the notebook), and cloning the repository needs the internet.
"""
from __future__ import annotations

import base64
import shlex

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from headlines.config import HeadlinesConfig
from infra import nag
from infra.naming import resource_prefix
from infra.sagemaker_role import key_statements, log_group_statement
from infra.storage import SCRATCH_PREFIX, Storage

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


def _clone_snippet(repository_url: str) -> str:
    repo = shlex.quote(repository_url)
    return f"""REPO_URL={repo}
TARGET=/home/ec2-user/SageMaker/$(basename "$REPO_URL" .git)
if [ ! -d "$TARGET/.git" ]; then
  # Detached: a slow clone must not hold the lifecycle script past its 5-minute limit.
  nohup sudo -u ec2-user -i git clone --depth 1 "$REPO_URL" "$TARGET" >/home/ec2-user/SageMaker/.headlines-clone.log 2>&1 &
fi
"""


def on_create_script(cfg: HeadlinesConfig) -> str:
    return "#!/bin/bash\nset -eu\n" + _clone_snippet(cfg.notebook.repository_url)


def on_start_script(cfg: HeadlinesConfig) -> str:
    minutes = int(cfg.notebook.idle_minutes)
    return f"""#!/bin/bash
set -eu
# 1. Idle auto-stop after {minutes} minutes (checked every 5 minutes by cron).
mkdir -p /usr/local/headlines
cat >/usr/local/headlines/autostop.py <<'PYEOF'
{AUTOSTOP_PY.strip()}
PYEOF
PYTHON=/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
(crontab -l 2>/dev/null | grep -v headlines-autostop || true; \\
 echo "*/5 * * * * $PYTHON /usr/local/headlines/autostop.py {minutes} >>/var/log/headlines-autostop.log 2>&1 # headlines-autostop") | crontab -
# 2. The project repository, when it is not there yet (cloned in the background).
{_clone_snippet(cfg.notebook.repository_url)}"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Notebook(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, cfg: HeadlinesConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.notebook_name = f"{resource_prefix(cfg)}-notebook"
        notebook_arn = stack.format_arn(
            service="sagemaker", resource="notebook-instance", resource_name=self.notebook_name.lower()
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Notebook instance of the headlines project (read data and artifacts, write scratch/)",
        )
        for statement in [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[storage.data.arn_for_objects("*"), storage.artifacts.arn_for_objects("*")],
            ),
            iam.PolicyStatement(actions=["s3:PutObject", "s3:DeleteObject"], resources=[storage.data.arn_for_objects(SCRATCH_PREFIX + "*")]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.data.bucket_arn, storage.artifacts.bucket_arn]),
            *key_statements(storage.key.key_arn),
            log_group_statement(stack, "/aws/sagemaker/NotebookInstances"),
            # The idle auto-stop stops this instance, and only this one.
            iam.PolicyStatement(
                actions=["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"], resources=[notebook_arn]
            ),
        ]:
            self.role.add_to_principal_policy(statement)
        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageData", ""), "Data scientists read every object of the project's data bucket (and write only scratch/)."),
            (nag.objects_under("StorageArtifacts", ""), "Data scientists read the trained artifacts (embeddings, models) of the project."),
            (nag.objects_under("StorageData", SCRATCH_PREFIX), "The notebook writes its experiments under scratch/ only (expires after 30 days)."),
            (nag.log_streams_of("/aws/sagemaker/NotebookInstances"), "The notebook writes log streams of the NotebookInstances log group only."),
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
            platform_identifier="notebook-al2-v3",
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
        )
        nag.suppress(
            self.instance,
            ("AwsSolutions-SM1", "The project deploys no VPC (NAT gateways would cost more than the notebook); the instance has no inbound access."),
            ("AwsSolutions-SM3", "Direct internet access is needed to clone the project repository and install packages, as no VPC/NAT is deployed."),
        )
