"""The data scientists' notebook instance.

Amazon Linux 2023 platform (``notebook-al2023-v1``), IMDSv2 only, KMS-encrypted volume, root
access off. It opens on the project, in one of two ways:

- by default, the project as deployed with the stack: a file asset (``project.tar.gz``,
  headlines/sourcedir.py) that the lifecycle configuration unpacks into
  ``~/SageMaker/headlines-mlops`` when the instance starts and the deployed version changed
  (the previous copy is kept beside it, renamed, never overwritten). Nothing depends on a git
  repository that may not exist, be private, or be unreachable;
- with ``notebook.repository_url``: that git repository is the instance's default code
  repository (``AWS::SageMaker::CodeRepository``), which SageMaker clones into
  ``~/SageMaker/<repository>`` when it creates the instance (a failed clone fails the instance
  and the deploy; ``headlines preflight`` checks the URL first). SageMaker's
  UpdateCodeRepository changes only a repository's credentials, not its URL, so the
  repository's name carries a hash of the URL: a new URL is a new repository.

Its lifecycle configuration also
- installs an idle auto-stop: a systemd timer (AL2023 has no cron) that stops the instance
  after ``idle_minutes`` without Jupyter activity and without a busy kernel, and
- builds, once and in the background, a conda environment with the project installed and
  registers it as the Jupyter kernel ``headlines`` on every start; a file
  ``HEADLINES-KERNEL-READY.txt`` or ``HEADLINES-KERNEL-FAILED.txt`` in the file browser says
  how that went.

The lifecycle contract (CreateNotebookInstanceLifecycleConfig, and "Lifecycle configuration
best practices" in the SageMaker developer guide): each script at most 16,384 characters,
run as root with PATH=/sbin:bin:/usr/sbin:/usr/bin, for at most 5 minutes (or the instance
fails to start); changes under /home/ec2-user/SageMaker made as ec2-user; its output in the
log group /aws/sagemaker/NotebookInstances. The paths it uses are in :data:`DOCUMENTED_PATHS`.

Its role (infra/notebook_role.py) may read the data and artifacts, write ``scratch/``, start
and follow the project's pipeline, run training jobs with the training role, read the
approved-model parameters and call the project's endpoint.

Direct internet access stays enabled: the instance has no VPC here (a VPC with NAT gateways
would cost more than the notebook), and the kernel's packages come from PyPI and conda.
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Dict, Optional

from aws_cdk import Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from headlines.sourcedir import PROJECT_FOLDER
from infra import nag
from infra.notebook_role import NotebookAccessProps, NotebookRole
from infra.service_logs import NOTEBOOK_LOG_GROUP, shared_service_log_group
from infra.storage import Storage

PLATFORM = "notebook-al2023-v1"
#: CreateNotebookInstanceLifecycleConfig: "Each lifecycle configuration script has a limit of
#: 16384 characters" (the base64 Content the API receives).
SCRIPT_LIMIT = 16384
HOME = "/home/ec2-user"
#: Every absolute path the lifecycle scripts use, and where AWS (or AL2023) documents it.
DOCUMENTED_PATHS: Dict[str, str] = {
    f"{HOME}/SageMaker": "the instance's persistent ML storage volume (SageMaker developer guide: notebook instances)",
    f"{HOME}/anaconda3": "the notebook's conda installation, its environments under envs/ (lifecycle configuration best practices)",
    f"{HOME}/anaconda3/envs/JupyterSystemEnv": "the Jupyter server's environment, with boto3 (auto-stop samples of aws-samples/amazon-sagemaker-notebook-instance-lifecycle-config-samples)",
    "/opt/ml/metadata/resource-metadata.json": "the instance's name and ARN (SageMaker developer guide: notebook instance metadata)",
    "/etc/systemd/system": "systemd units (Amazon Linux 2023 has systemd timers, no cron daemon)",
    "/usr/bin": "the system's commands, on the lifecycle scripts' PATH (/sbin:bin:/usr/sbin:/usr/bin)",
    "/usr/local/headlines": "the project's own scripts (root-owned, outside the persistent volume)",
}

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


def repository_folder(repository_url: Optional[str]) -> str:
    """Where the project is on the instance: ~/SageMaker/<name of the repository> for a cloned
    repository (SageMaker's choice), ~/SageMaker/headlines-mlops for the deployed copy."""
    if repository_url is None:
        return f"{HOME}/SageMaker/{PROJECT_FOLDER}"
    name = repository_url.rstrip("/").rsplit("/", 1)[-1]
    return f"{HOME}/SageMaker/" + (name[:-4] if name.endswith(".git") else name)


def repository_name(prefix: str, repository_url: str) -> str:
    """The CodeRepository's name: a new URL makes a new repository (UpdateCodeRepository keeps the URL)."""
    return f"{prefix}-{hashlib.sha256(repository_url.encode()).hexdigest()[:8]}"


def on_create_script(repository_url: Optional[str]) -> str:
    # A cloned repository is there before this runs; the deployed copy arrives with on-start.
    return "#!/bin/bash\nset -eu\necho 'headlines: project in {}'\n".format(repository_folder(repository_url))


KERNEL = "headlines"


@dataclass(frozen=True)
class ProjectCopy:
    """The deployed copy of the project: an S3 object (tokens resolved at deploy) and its version."""

    bucket: str
    key: str
    version: str  # the asset's hash: a new deploy of changed files is a new version


DOWNLOAD_PY = r'''import json, sys, boto3
region = json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceArn"].split(":")[3]
boto3.client("s3", region_name=region).download_file(sys.argv[1], sys.argv[2], sys.argv[3])'''


def _sync_section(project: str, copy: ProjectCopy) -> str:
    return f"""# 0. The project as deployed with the stack, unpacked when the deployed version changed; the
#    copy it replaces is kept beside it (renamed), so no edit is ever overwritten.
VERSION={shlex.quote(copy.version)}
if [ "$(cat {project}/.headlines-version 2>/dev/null || true)" != "$VERSION" ]; then
  STAGING=$(mktemp -d {HOME}/SageMaker/.headlines-sync.XXXXXX)
  "$PYTHON" - "{copy.bucket}" "{copy.key}" "$STAGING/project.tar.gz" <<'PYEOF'
{DOWNLOAD_PY}
PYEOF
  tar -xzf "$STAGING/project.tar.gz" -C "$STAGING"
  echo "$VERSION" >"$STAGING/{PROJECT_FOLDER}/.headlines-version"
  if [ -d {project} ]; then mv {project} "{project}.before-$(date -u +%Y%m%dT%H%M%SZ)"; fi
  mv "$STAGING/{PROJECT_FOLDER}" {project}
  chown -R ec2-user:ec2-user {project}
  rm -rf "$STAGING"
fi
"""


def on_start_script(repository_url: Optional[str], idle_minutes: int, copy: Optional[ProjectCopy] = None) -> str:
    minutes = int(idle_minutes)
    project = shlex.quote(repository_folder(repository_url))
    sync = _sync_section(project, copy) if copy is not None else ""
    return f"""#!/bin/bash
set -eu
PYTHON={HOME}/anaconda3/envs/JupyterSystemEnv/bin/python
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
{sync}# 1. Idle auto-stop after {minutes} minutes, checked every 5 minutes by a systemd timer
#    (Amazon Linux 2023 has no cron daemon).
mkdir -p /usr/local/headlines
cat >/usr/local/headlines/autostop.py <<'PYEOF'
{AUTOSTOP_PY.strip()}
PYEOF
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


def _hook(script: str) -> sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty:
    return sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(content=Fn.base64(script))


@dataclass(frozen=True)
class NotebookProps:
    code_repository_name: str  # the prefix of the CodeRepository's name (repository_url only)
    access: NotebookAccessProps  # the role's permissions; access.notebook_name names the instance
    repository_url: Optional[str] = None  # None: the project's deployed copy (``project`` below)
    instance_type: str = "ml.t3.medium"
    volume_size_gb: int = 10
    idle_minutes: int = 60  # the idle auto-stop


class Notebook(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: NotebookProps,
        storage: Storage,
        training_role: iam.IRole,
        project: Optional[s3_assets.Asset] = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if (props.repository_url is None) == (project is None):
            raise ValueError("a notebook opens on either notebook.repository_url or the project's deployed copy")
        self.notebook_name = props.access.notebook_name
        self.role = NotebookRole(self, "Role", props=props.access, storage=storage, training_role=training_role)
        copy: Optional[ProjectCopy] = None
        repository: Optional[sagemaker.CfnCodeRepository] = None
        if project is not None:
            copy = ProjectCopy(bucket=project.s3_bucket_name, key=project.s3_object_key, version=project.asset_hash)
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{project.bucket.bucket_arn}/{project.s3_object_key}"])
            )
        else:
            assert props.repository_url is not None
            repository = sagemaker.CfnCodeRepository(
                self,
                "Repository",
                code_repository_name=repository_name(props.code_repository_name, props.repository_url),
                git_config=sagemaker.CfnCodeRepository.GitConfigProperty(repository_url=props.repository_url),
            )
        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{self.notebook_name}-lifecycle",
            on_create=[_hook(on_create_script(props.repository_url))],
            on_start=[_hook(on_start_script(props.repository_url, props.idle_minutes, copy))],
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
            default_code_repository=repository.attr_code_repository_name if repository else None,
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
        )
        # The account's notebook log group (lifecycle and Jupyter logs): a retention, kept on destroy.
        self.instance.node.add_dependency(shared_service_log_group(self, "Logs", NOTEBOOK_LOG_GROUP))
        nag.suppress(
            self.instance,
            ("AwsSolutions-SM1", "The project deploys no VPC (NAT gateways would cost more than the notebook); the instance has no inbound access."),
            ("AwsSolutions-SM3", "Direct internet access installs the kernel's packages (PyPI, conda) and clones a configured repository, as no VPC/NAT is deployed."),
        )
