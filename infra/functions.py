"""Python Lambda functions of the project: directory assets, no Docker bundling.

A folder with a ``requirements.txt`` (pure-Python pins, e.g. defusedxml for the feed reader)
gets those distributions vendored into its asset at synth by CDK local bundling: the files of
the installed distribution (``make install`` installs the same pin from constraints.txt) are
copied beside the code, after checking the installed version is the pinned one. Synthesis
needs neither Docker nor the network (docs/architecture.md, "Lambda dependencies vendored").

Their other third-party dependency, Powertools for AWS Lambda (Python), comes from the public
Powertools v3 layer that AWS publishes in every commercial region (account 017000801446;
498634801083 in the China regions), for python3.12 on x86_64. The layer version is pinned
here (``POWERTOOLS_LAYER_VERSION``) and can be overridden with
``-c headlines:powertools_layer_version=N``; check a version with
``aws lambda get-layer-version-by-arn --arn <arn>``.
"""
from __future__ import annotations

import fnmatch
import importlib.metadata
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional

import jsii
from aws_cdk import BundlingOptions, DockerImage, Duration, ILocalBundling, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from headlines.naming import CONTEXT_POWERTOOLS_LAYER_VERSION
from headlines.project import FUNCTIONS_DIR
from infra import nag
from infra.retention import Retention

RUNTIME = lambda_.Runtime.PYTHON_3_12
POWERTOOLS_LAYER_VERSION = 27  # Powertools for AWS Lambda (Python) v3 public layer, python3.12 x86_64
_ASSET_EXCLUDES = ["__pycache__", "*.pyc", "tests", ".pytest_cache", "*.md"]


def powertools_layer_arn(scope: Construct) -> str:
    stack = Stack.of(scope)
    region = stack.region
    version = stack.node.try_get_context(CONTEXT_POWERTOOLS_LAYER_VERSION) or POWERTOOLS_LAYER_VERSION
    account = "498634801083" if str(region).startswith("cn-") else "017000801446"
    return (
        f"arn:{stack.partition}:lambda:{region}:{account}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python312-x86_64:{int(version)}"
    )


_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)$")


def pinned_requirements(requirements: Path) -> List[tuple]:
    """``[(name, version)]`` of a requirements file that pins every line (``name==version``)."""
    pins = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{requirements}: {line!r} is not pinned as name==version")
        pins.append((match.group(1), match.group(2)))
    return pins


def vendor(source: Path, output: Path) -> None:
    """The function's folder and the installed files of its pinned requirements, into ``output``."""
    shutil.copytree(source, output, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_ASSET_EXCLUDES))
    for name, version in pinned_requirements(source / "requirements.txt"):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{name}=={version} (functions/{source.name}/requirements.txt) is not installed: run make install") from None
        if dist.version != version:
            raise RuntimeError(f"{name} {dist.version} is installed, functions/{source.name}/requirements.txt pins {version}: run make install")
        for file in dist.files or []:
            parts = Path(str(file)).parts
            if parts[0] in ("..", "/") or any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in _ASSET_EXCLUDES):
                continue
            target = output / Path(str(file))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(str(dist.locate_file(file))), target)


@jsii.implements(ILocalBundling)
class _Vendoring:
    def __init__(self, source: Path):
        self.source = source

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        vendor(self.source, Path(output_dir))
        return True


def function_code(source: Path) -> lambda_.Code:
    """The folder as an asset; with its pinned requirements vendored when it has a requirements.txt."""
    if not (source / "requirements.txt").is_file():
        return lambda_.Code.from_asset(str(source), exclude=_ASSET_EXCLUDES)
    return lambda_.Code.from_asset(
        str(source),
        exclude=_ASSET_EXCLUDES,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused-local-bundling-only"),  # never pulled: local bundling succeeds or fails synth
            local=_Vendoring(source),
        ),
    )


@dataclass(frozen=True)
class PythonFunctionProps:
    folder: str  # under functions/
    handler: str  # module.function
    description: str
    timeout: Duration
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 512
    ephemeral_mb: Optional[int] = None  # None: Lambda's default /tmp
    retention: Retention = Retention()


class PythonFunction(Construct):
    """A python3.12 function from ``functions/<folder>/`` with its own log group and role.

    The role gets only what the function needs: writing its own log group (instead of the
    AWSLambdaBasicExecutionRole managed policy) plus what the caller grants.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: PythonFunctionProps) -> None:
        super().__init__(scope, construct_id)
        source = FUNCTIONS_DIR / props.folder
        source.mkdir(parents=True, exist_ok=True)  # another engineer fills it; an empty folder still synthesizes
        retention = props.retention
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention.log_retention, removal_policy=retention.removal
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=props.description
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=props.handler,
            code=function_code(Path(source)),
            description=props.description,
            environment=dict(props.environment),
            timeout=props.timeout,
            memory_size=props.memory_mb,
            ephemeral_storage_size=Size.mebibytes(props.ephemeral_mb) if props.ephemeral_mb else None,
            tracing=lambda_.Tracing.ACTIVE,
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(self))],
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            role=self.role,
        )
        nag.allow_wildcards(self, nag.XRAY)
        nag.suppress(
            self.function,
            ("AwsSolutions-L1", "python3.12 on purpose: the public Powertools v3 layer used for dependencies is built per runtime (python312)."),
        )
