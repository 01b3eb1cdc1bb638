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

Its role (infra/notebook_role.py) may read the data and artifacts, write ``scratch/``, start
and follow the project's pipeline, run training jobs with the training role, read the
approved-model parameters and call the project's endpoint.

Direct internet access stays enabled: the instance has no VPC here (a VPC with NAT gateways
would cost more than the notebook), and cloning the repository needs the internet.
"""
from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra import nag
from infra.notebook_role import NotebookAccessProps, NotebookRole
from infra.storage import Storage

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


def on_create_script(repository_url: str) -> str:
    # SageMaker clones the repository itself (DefaultCodeRepository) before this runs.
    return "#!/bin/bash\nset -eu\necho 'headlines: project in {}'\n".format(repository_folder(repository_url))


KERNEL = "headlines"


def on_start_script(repository_url: str, idle_minutes: int) -> str:
    minutes = int(idle_minutes)
    project = shlex.quote(repository_folder(repository_url))
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


@dataclass(frozen=True)
class NotebookProps:
    code_repository_name: str
    repository_url: str  # the default code repository
    access: NotebookAccessProps  # the role's permissions; access.notebook_name names the instance
    instance_type: str = "ml.t3.medium"
    volume_size_gb: int = 10
    idle_minutes: int = 60  # the idle auto-stop


class Notebook(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, props: NotebookProps, storage: Storage, training_role: iam.IRole
    ) -> None:
        super().__init__(scope, construct_id)
        self.notebook_name = props.access.notebook_name
        self.role = NotebookRole(self, "Role", props=props.access, storage=storage, training_role=training_role)

        # The project opens in Jupyter: SageMaker clones it into ~/SageMaker/<repository> when
        # the instance is created; a clone that fails makes the instance fail (visible in the
        # console and the stack events), not a hidden log.
        repository = sagemaker.CfnCodeRepository(
            self,
            "Repository",
            code_repository_name=props.code_repository_name,
            git_config=sagemaker.CfnCodeRepository.GitConfigProperty(repository_url=props.repository_url),
        )
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{self.notebook_name}-lifecycle",
            on_create=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(content=_b64(on_create_script(props.repository_url)))],
            on_start=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(content=_b64(on_start_script(props.repository_url, props.idle_minutes)))],
        )
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=self.notebook_name,
            instance_type=props.instance_type,
            role_arn=self.role.role_arn,
            kms_key_id=storage.key.key_id,
            root_access="Disabled",
            direct_internet_access="Enabled",
            volume_size_in_gb=props.volume_size_gb,
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
