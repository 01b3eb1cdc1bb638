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

    news_url: str = Field(description="public URL of the UCI News Aggregator zip (the ingest step streams it "
                                      "to the data bucket; local mode downloads it into the work directory)")
    news_sha256: Optional[str] = Field(default=None, description="expected SHA-256 of the news download (null: not checked)")
    corpus_url: str = Field(description="public URL of the text8 corpus zip (the word vectors' corpus)")
    corpus_sha256: Optional[str] = Field(default=None, description="expected SHA-256 of the corpus download (null: not checked)")
    # When set, ingest copies from these S3 URIs instead of the public URLs.
    news_s3_uri: Optional[str] = Field(default=None, description="copy the news dataset from this S3 object instead "
                                                                 "of news_url (the ingest role may read exactly it)")
    corpus_s3_uri: Optional[str] = Field(default=None, description="copy the corpus from this S3 object instead of corpus_url")


def _hyperparameters(check_name: str):
    """A field validator: the typed schema of training/hyperparameters.py (headlines.hyperparameters)."""
    def check(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        from headlines import hyperparameters

        return getattr(hyperparameters, check_name)(value)
    return field_validator("hyperparameters")(classmethod(check))


class EmbeddingsConfig(_Strict):
    """BlazingText (word2vec) job; hyperparameter names are BlazingText's own."""

    instance_type: str = Field(description="instance type of the BlazingText training job")
    instance_count: int = Field(ge=1, description="instances of the BlazingText job (batch_skipgram trains on several)")
    volume_size_gb: int = Field(ge=1, description="training volume of each instance, in GB")
    max_runtime_seconds: int = Field(ge=60, description="the BlazingText job's MaxRuntimeInSeconds")
    hyperparameters: Dict[str, Any] = Field(description="BlazingText's own hyperparameters (names are BlazingText's)")

    _check_hyperparameters = _hyperparameters("validate_blazingtext")


class ClassifierConfig(_Strict):
    """MXNet script-mode job running training/train.py."""

    instance_type: str = Field(description="instance type of the MXNet training job (CPU)")
    # The GPU switch: train on gpu_instance_type, with the MXNet GPU training image of the
    # SDK's image lookup (infra/images.py); train.py then runs on mx.gpu(0) (SM_NUM_GPUS).
    gpu: bool = Field(default=False, description="the GPU switch: train on gpu_instance_type with the MXNet GPU "
                                                 "training image of the SDK's lookup (mxnet-training:1.9.0-gpu-py38); "
                                                 "train.py uses mx.gpu(0) when SM_NUM_GPUS > 0")
    gpu_instance_type: str = Field(default="ml.g4dn.xlarge", description="the training instance when gpu is true")
    framework_version: str = Field(description="MXNet version of the training and serving images (resolved per region)")
    py_version: str = Field(description="Python version tag of those images")
    volume_size_gb: int = Field(ge=1, description="training volume, in GB")
    # None: derived from measured throughput for data_rows on the training instance, with a
    # margin (headlines/training_time.py); a number overrides it.
    max_runtime_seconds: Optional[int] = Field(
        default=None, ge=60, description="the job's MaxRuntimeInSeconds; null derives it from measured throughput for "
                                         "data_rows on the training instance: projection x 3, rounded up to 10 minutes "
                                         "(headlines/training_time.py); a number overrides it")
    data_rows: int = Field(default=422_937, ge=1, description="rows the job's time limit is sized for (the full dataset)")
    hyperparameters: Dict[str, Any] = Field(description="train.py's hyperparameters")
    # Quality gate: the pipeline fails when the final test metric is below this.
    quality_metric: Literal["test_accuracy", "test_macro_f1"] = Field(
        description="the quality gate's metric, from the training job's final metrics")
    quality_threshold: float = Field(ge=0.0, le=1.0, description="the pipeline fails (QualityGateFailed) and approves "
                                                                 "nothing when the metric is below this")

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
    min_capacity: int = Field(ge=1, description="fewest endpoint instances")
    max_capacity: int = Field(ge=1, description="most endpoint instances")
    target_invocations_per_instance: int = Field(ge=1, description="target tracking on SageMakerVariantInvocationsPerInstance "
                                                                   "(invocations per instance per minute)")


class ServingConfig(_Strict):
    mode: Literal["instance", "serverless"] = Field(
        description="instance: a real-time endpoint on instance_type (blue/green updates with rollback alarms); "
                    "serverless: SageMaker Serverless Inference (no idle cost, cold starts)")
    instance_type: str = Field(description="endpoint instance type (instance mode)")
    initial_instance_count: int = Field(ge=1, description="endpoint instances at creation (instance mode)")
    autoscaling: Optional[AutoscalingConfig] = Field(default=None, description="target tracking (instance mode); null: none")
    serverless_memory_mb: int = Field(description="memory of the serverless endpoint: one of 1024, 2048, 3072, 4096, 5120, 6144")
    serverless_max_concurrency: int = Field(ge=1, le=200, description="concurrent invocations of the serverless endpoint")
    data_capture: bool = Field(description="capture requests and answers to s3://<artifacts>/datacapture/ (instance mode only)")
    data_capture_percent: int = Field(ge=1, le=100, description="share of the requests captured")

    @field_validator("serverless_memory_mb")
    @classmethod
    def _serverless_memory(cls, value: int) -> int:
        if value not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise ValueError("serverless_memory_mb must be one of 1024, 2048, ..., 6144")
        return value


class ApiConfig(_Strict):
    throttle_rate_limit: float = Field(gt=0, description="requests per second: stage throttling (all callers) and the usage plan")
    throttle_burst_limit: int = Field(ge=1, description="burst of requests: stage throttling and the usage plan")
    quota_per_day: int = Field(ge=1, description="requests per day of the usage plan (enforced for API-key callers)")
    api_key_required: bool = Field(description="callers send x-api-key (the page at / needs none)")
    cors_allow_origins: List[str] = Field(description="origins allowed by CORS")
    max_headline_chars: int = Field(ge=1, description="characters per headline: the gateway's request model, the Lambda "
                                                      "and the model container")
    max_batch_size: int = Field(ge=1, description="headlines per batch: the gateway's request model, the Lambda and the model container")
    # Below API Gateway's 29 s integration timeout, so callers get our 504, not the gateway's.
    endpoint_timeout_seconds: float = Field(gt=0, lt=29, description="the Lambda's wait for the model per attempt (below API "
                                                                     "Gateway's 29 s, so callers get the API's own 504)")


class NotebookConfig(_Strict):
    enabled: bool = Field(description="create the SageMaker notebook instance")
    instance_type: str = Field(description="notebook instance type")
    volume_size_gb: int = Field(ge=5, description="notebook volume, in GB")
    repository_url: str = Field(description="the notebook's default code repository, cloned into ~/SageMaker (point it at your fork)")
    idle_minutes: int = Field(ge=5, description="stop the instance after this many minutes without Jupyter activity")


class PipelineConfig(_Strict):
    notification_email: Optional[str] = Field(default=None, description="subscribed to the alert topic (pipeline failures, "
                                                                         "endpoint alarms); confirm the e-mail")
    timeout_minutes: int = Field(ge=10, description="the state machine's timeout")


class HeadlinesConfig(_Strict):
    project_name: str = Field(description="prefix of resource names and SSM parameters")
    stage: Literal["dev", "prod"] = Field(description="dev: everything deleted on destroy; prod: data retained; part of "
                                                      "every name (stacks HeadlinesProdPipeline, HeadlinesProdServing)")
    data: DataConfig = Field(description="where the two public datasets come from")
    embeddings: EmbeddingsConfig = Field(description="the BlazingText (word2vec) training job")
    classifier: ClassifierConfig = Field(description="the MXNet script-mode training job running training/train.py")
    serving: ServingConfig = Field(description="the SageMaker endpoint")
    api: ApiConfig = Field(description="the REST API")
    notebook: NotebookConfig = Field(description="the SageMaker notebook instance")
    pipeline: PipelineConfig = Field(description="the Step Functions pipeline")

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
