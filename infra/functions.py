"""Python Lambda functions of the project: plain directory assets, no Docker bundling.

Their only third-party dependency, Powertools for AWS Lambda (Python), comes from the public
Powertools v3 layer that AWS publishes in every commercial region (account 017000801446;
498634801083 in the China regions), for python3.12 on x86_64. The layer version is pinned
here (``POWERTOOLS_LAYER_VERSION``) and can be overridden with
``-c headlines:powertools_layer_version=N``; check a version with
``aws lambda get-layer-version-by-arn --arn <arn>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from aws_cdk import Duration, Size, Stack
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
            code=lambda_.Code.from_asset(str(Path(source)), exclude=_ASSET_EXCLUDES),
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
