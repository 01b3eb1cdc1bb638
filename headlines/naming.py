"""Names shared by the CDK app and the command-line tool (no CDK import here)."""
from __future__ import annotations

import re

from headlines.config import HeadlinesConfig

#: CloudFormation output keys the command-line tool reads.
OUTPUT_STATE_MACHINE_ARN = "StateMachineArn"
OUTPUT_API_URL = "ApiUrl"
OUTPUT_MODEL_PACKAGE_GROUP = "ModelPackageGroupName"
OUTPUT_MODEL_NAME = "ModelName"
OUTPUT_MODEL_VERSION = "ModelVersion"

#: Context keys of app.py that are not part of the typed config.
CONTEXT_REHEARSAL = "headlines:rehearsal"
CONTEXT_POWERTOOLS_LAYER_VERSION = "headlines:powertools_layer_version"

#: Values of the two model parameters before the pipeline has approved a model. The serving
#: pointer keeps the two-field shape, so that CloudFormation's Fn::Select of its second field
#: never fails before the template rule can say what is missing.
NO_MODEL = "none"
NO_MODEL_POINTER = "none no-model-approved-yet"


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def stack_prefix(cfg: HeadlinesConfig) -> str:
    """``Headlines`` for the dev stage, ``HeadlinesProd`` for prod: both fit in one account."""
    return _camel(cfg.project_name) + ("" if cfg.stage == "dev" else _camel(cfg.stage))


def pipeline_stack_name(cfg: HeadlinesConfig) -> str:
    return stack_prefix(cfg) + "Pipeline"


def serving_stack_name(cfg: HeadlinesConfig) -> str:
    return stack_prefix(cfg) + "Serving"


def resource_prefix(cfg: HeadlinesConfig) -> str:
    """Lower-case prefix for physical names (``headlines-dev``)."""
    return f"{cfg.project_name}-{cfg.stage}".lower()


def approved_model_parameter(cfg: HeadlinesConfig) -> str:
    """The SSM parameter holding the approval record (JSON) the pipeline writes last."""
    return f"/{cfg.project_name}/{cfg.stage}/model/approved"


def serving_model_parameter(cfg: HeadlinesConfig) -> str:
    """The SSM parameter the serving stack resolves at deploy time: ``<model_version> <model_data_url>``.

    Plain text, not JSON, because CloudFormation can split a parameter value but not parse JSON.
    """
    return f"/{cfg.project_name}/{cfg.stage}/model/serving"


def serving_model_value(model_version: str, model_data_url: str) -> str:
    return f"{model_version} {model_data_url}"


def state_machine_name(cfg: HeadlinesConfig) -> str:
    return f"{resource_prefix(cfg)}-pipeline"


def training_job_prefix(cfg: HeadlinesConfig) -> str:
    """``headlines-dev``: the pipeline's jobs are ``<prefix>-emb-<execution>`` and
    ``<prefix>-clf-<execution>``; roles are scoped by it, so each stage reaches only its own jobs."""
    return resource_prefix(cfg)[:24]


def model_package_group_name(cfg: HeadlinesConfig) -> str:
    """The start of the stage's SageMaker model package group's name (``headlines-dev-models``); the
    group ends with 8 hex digits of the stack id (infra/registry.py) and the pipeline stack's
    ``ModelPackageGroupName`` output names it."""
    return f"{resource_prefix(cfg)}-models"


def transform_job_prefix(cfg: HeadlinesConfig) -> str:
    """``headlines-dev-batch``: `headlines batch` names its jobs ``<prefix>-<UTC time>``."""
    return f"{resource_prefix(cfg)[:24]}-batch"


def endpoint_name(cfg: HeadlinesConfig) -> str:
    return resource_prefix(cfg)


def results_database(cfg: HeadlinesConfig) -> str:
    """The Glue database of the live results (Glue and Athena names: lower case, digits, ``_``)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{resource_prefix(cfg)}_results")


def results_workgroup(cfg: HeadlinesConfig) -> str:
    """The Athena workgroup of the results' queries (the notebook and the drift check use it)."""
    return f"{resource_prefix(cfg)}-results"


def results_stream(cfg: HeadlinesConfig) -> str:
    """The Kinesis Data Firehose delivery stream the API and the feed reader send records to."""
    return f"{resource_prefix(cfg)}-results"


def dashboard_name(cfg: HeadlinesConfig) -> str:
    """The CloudWatch dashboard (API, endpoint, live results, drift, pipeline)."""
    return f"{resource_prefix(cfg)}-dashboard"
