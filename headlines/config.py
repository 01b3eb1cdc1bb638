"""The project's one typed configuration.

The defaults live in ``cdk.json`` under the context key ``headlines`` so that platform teams
see and override them the CDK way (``cdk deploy -c headlines.serving.mode=serverless``); this
module validates them. The local pipeline reads the same file, so the hyperparameters of a
local run and of a SageMaker run come from one place.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from headlines.project import CDK_JSON

CONTEXT_KEY = "headlines"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the two public datasets come from."""

    news_url: str
    news_sha256: Optional[str] = None
    corpus_url: str
    corpus_sha256: Optional[str] = None
    # When set, ingest copies from these S3 URIs instead of the public URLs.
    news_s3_uri: Optional[str] = None
    corpus_s3_uri: Optional[str] = None


def _hyperparameters(check_name: str):
    """A field validator: the typed schema of training/hyperparameters.py (headlines.hyperparameters)."""
    def check(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        from headlines import hyperparameters

        return getattr(hyperparameters, check_name)(value)
    return field_validator("hyperparameters")(classmethod(check))


class EmbeddingsConfig(_Strict):
    """BlazingText (word2vec) job; hyperparameter names are BlazingText's own."""

    instance_type: str
    instance_count: int = Field(ge=1)
    volume_size_gb: int = Field(ge=1)
    max_runtime_seconds: int = Field(ge=60)
    hyperparameters: Dict[str, Any]

    _check_hyperparameters = _hyperparameters("validate_blazingtext")


class ClassifierConfig(_Strict):
    """MXNet script-mode job running training/train.py."""

    instance_type: str
    # The GPU switch: train on gpu_instance_type, with the MXNet GPU training image of the
    # SDK's image lookup (infra/images.py); train.py then runs on mx.gpu(0) (SM_NUM_GPUS).
    gpu: bool = False
    gpu_instance_type: str = "ml.g4dn.xlarge"
    framework_version: str
    py_version: str
    volume_size_gb: int = Field(ge=1)
    # None: derived from measured throughput for data_rows on the training instance, with a
    # margin (headlines/training_time.py); a number overrides it.
    max_runtime_seconds: Optional[int] = Field(default=None, ge=60)
    data_rows: int = Field(default=422_937, ge=1)  # rows the job is sized for (the full dataset)
    hyperparameters: Dict[str, Any]
    # Quality gate: the pipeline fails when the final test metric is below this.
    quality_metric: Literal["test_accuracy", "test_macro_f1"]
    quality_threshold: float = Field(ge=0.0, le=1.0)

    _check_hyperparameters = _hyperparameters("validate_classifier")

    @property
    def training_instance_type(self) -> str:
        return self.gpu_instance_type if self.gpu else self.instance_type

    @property
    def runtime_limit_seconds(self) -> int:
        """The job's MaxRuntimeInSeconds: the configured one, else derived from throughput."""
        if self.max_runtime_seconds is not None:
            return self.max_runtime_seconds
        from headlines.training_time import max_runtime_seconds

        return max_runtime_seconds(self.data_rows, self.training_instance_type)


class AutoscalingConfig(_Strict):
    min_capacity: int = Field(ge=1)
    max_capacity: int = Field(ge=1)
    target_invocations_per_instance: int = Field(ge=1)


class ServingConfig(_Strict):
    mode: Literal["instance", "serverless"]
    instance_type: str
    initial_instance_count: int = Field(ge=1)
    autoscaling: Optional[AutoscalingConfig] = None
    serverless_memory_mb: int
    serverless_max_concurrency: int = Field(ge=1, le=200)
    data_capture: bool
    data_capture_percent: int = Field(ge=1, le=100)

    @field_validator("serverless_memory_mb")
    @classmethod
    def _serverless_memory(cls, value: int) -> int:
        if value not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise ValueError("serverless_memory_mb must be one of 1024, 2048, ..., 6144")
        return value


class ApiConfig(_Strict):
    throttle_rate_limit: float = Field(gt=0)
    throttle_burst_limit: int = Field(ge=1)
    quota_per_day: int = Field(ge=1)
    api_key_required: bool
    cors_allow_origins: List[str]
    max_headline_chars: int = Field(ge=1)
    max_batch_size: int = Field(ge=1)
    # Below API Gateway's 29 s integration timeout, so callers get our 504, not the gateway's.
    endpoint_timeout_seconds: float = Field(gt=0, lt=29)
    logging_role: Literal["existing", "create"] = "existing"


class NotebookConfig(_Strict):
    enabled: bool
    instance_type: str
    volume_size_gb: int = Field(ge=5)
    repository_url: str
    idle_minutes: int = Field(ge=5)


class PipelineConfig(_Strict):
    notification_email: Optional[str] = None
    timeout_minutes: int = Field(ge=10)


class HeadlinesConfig(_Strict):
    project_name: str
    stage: Literal["dev", "prod"]
    data: DataConfig
    embeddings: EmbeddingsConfig
    classifier: ClassifierConfig
    serving: ServingConfig
    api: ApiConfig
    notebook: NotebookConfig
    pipeline: PipelineConfig

    @property
    def retain_data(self) -> bool:
        """A prod stage keeps its data on destroy; a dev stage deletes everything."""
        return self.stage == "prod"


def _set_dotted(tree: Dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"cannot set {dotted}: {part} is not a section")
    node[leaf] = parse_scalar(value)


def parse_scalar(value: Any) -> Any:
    """``-c key=value`` and ``-H name=value`` give strings; accept JSON literals (numbers, true, lists...)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def default_context() -> Dict[str, Any]:
    with CDK_JSON.open(encoding="utf-8") as handle:
        return json.load(handle)["context"][CONTEXT_KEY]


def load_config(overrides: Optional[Mapping[str, Any]] = None) -> HeadlinesConfig:
    """The defaults from cdk.json, with ``headlines.a.b=value`` style overrides applied."""
    tree = json.loads(json.dumps(default_context()))
    for key, value in (overrides or {}).items():
        if key.startswith(CONTEXT_KEY + "."):
            _set_dotted(tree, key[len(CONTEXT_KEY) + 1:], value)
    try:
        return HeadlinesConfig.model_validate(tree)
    except ValidationError as error:  # one line naming the setting, not pydantic's report
        first = error.errors()[0]
        where = ".".join(str(part) for part in (CONTEXT_KEY, *first["loc"]))
        raise ConfigError(f"{CDK_JSON.name} {where}: {str(first['msg']).replace('Value error, ', '')}") from None


class ConfigError(ValueError):
    """An invalid setting in cdk.json or a -c override; one line naming it."""
