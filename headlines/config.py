"""The project's one typed configuration.

The defaults live in ``cdk.json`` under the context key ``headlines`` so that platform teams
see and override them the CDK way (``cdk deploy -c headlines.serving.mode=serverless``); this
module validates them. The local pipeline reads the same file, so the hyperparameters of a
local run and of a SageMaker run come from one place.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from headlines import instance_types
from headlines.project import CDK_JSON

CONTEXT_KEY = "headlines"

#: The API handler's budget for the endpoint call under API Gateway's 29 s integration timeout
#: (functions/api/api_settings.py ENDPOINT_BUDGET_SECONDS).
ENDPOINT_BUDGET_SECONDS = 24.0
#: Per serving mode: an instance endpoint answers in milliseconds (10 s is a hung container);
#: a serverless one may first start a container (one attempt with the whole budget).
DEFAULT_ENDPOINT_TIMEOUT_SECONDS = {"instance": 10.0, "serverless": ENDPOINT_BUDGET_SECONDS}
SERVERLESS_MIN_ENDPOINT_TIMEOUT_SECONDS = 20.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the two public datasets come from, and what their zips must hold."""

    news_url: str = Field(description="public URL of the UCI News Aggregator zip (the ingest step streams it "
                                      "to the data bucket; local mode downloads it into the work directory)")
    news_fallback_urls: List[str] = Field(
        default_factory=list, description="tried in order when news_url fails or does not give the dataset "
                                          "(UCI moved its downloads; the legacy address)")
    news_sha256: Optional[str] = Field(default=None, description="expected SHA-256 of the news download (null: not checked)")
    news_members: Dict[str, int] = Field(
        default_factory=dict, description="{file in the zip: size in bytes}, checked after each download, in AWS and "
                                          "locally (the dataset's readme gives newsCorpora.csv as 102,297,000 bytes)")
    corpus_url: str = Field(description="public URL of the text8 corpus zip (the word vectors' corpus)")
    corpus_sha256: Optional[str] = Field(default=None, description="expected SHA-256 of the corpus download (null: not checked)")
    corpus_members: Dict[str, int] = Field(default_factory=dict, description="{file in the zip: size in bytes} of the "
                                                                              "corpus zip (text8 is 100,000,000 bytes)")
    # When set, ingest copies from these S3 URIs instead of the public URLs.
    news_s3_uri: Optional[str] = Field(default=None, description="copy the news dataset from this S3 object instead "
                                                                 "of news_url (the ingest role may read exactly it)")
    corpus_s3_uri: Optional[str] = Field(default=None, description="copy the corpus from this S3 object instead of corpus_url")

    @property
    def news_urls(self) -> List[str]:
        return [self.news_url, *self.news_fallback_urls]


def _hyperparameters(check_name: str):
    """A field validator: the typed schema of training/hyperparameters.py (headlines.hyperparameters)."""
    def check(cls, value: Dict[str, Any]) -> Dict[str, Any]:
        from headlines import hyperparameters

        return getattr(hyperparameters, check_name)(value)
    return field_validator("hyperparameters")(classmethod(check))


def _instance_type(use: instance_types.Use, *fields: str):
    """A field validator: the types SageMaker's API accepts for ``use`` (headlines.instance_types)."""
    def check(cls, value: str) -> str:
        return instance_types.check_instance_type(value, use)
    return field_validator(*fields)(classmethod(check))


class EmbeddingsConfig(_Strict):
    """BlazingText (word2vec) job; hyperparameter names are BlazingText's own."""

    instance_type: str = Field(description="instance type of the BlazingText training job")
    instance_count: int = Field(ge=1, description="instances of the BlazingText job (batch_skipgram trains on several)")
    volume_size_gb: int = Field(ge=1, description="training volume of each instance, in GB")
    max_runtime_seconds: int = Field(ge=60, description="the BlazingText job's MaxRuntimeInSeconds")
    hyperparameters: Dict[str, Any] = Field(description="BlazingText's own hyperparameters (names are BlazingText's)")

    _check_hyperparameters = _hyperparameters("validate_blazingtext")
    _check_instance_type = _instance_type("training", "instance_type")


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
    max_runtime_seconds: Optional[int] = Field(
        default=None, ge=60, description="the job's MaxRuntimeInSeconds; null derives it from the worst case the "
                                         "hyperparameters allow for data_rows on the training instance (every member's "
                                         "full epoch budget and the refit, from measured throughput) x 2, rounded up to "
                                         "10 minutes (headlines/training_time.py); a number overrides it")
    data_rows: int = Field(default=422_937, ge=1, description="rows the job's time limit is sized for (the full dataset)")
    hyperparameters: Dict[str, Any] = Field(description="train.py's hyperparameters")
    # Quality gate: the pipeline fails when the final test metric is below this.
    quality_metric: Literal["test_accuracy", "test_macro_f1"] = Field(
        description="the quality gate's metric, from the training job's final metrics")
    quality_threshold: float = Field(ge=0.0, le=1.0, description="the pipeline fails (QualityGateFailed) and approves "
                                                                 "nothing when the metric is below this")
    champion_tolerance: float = Field(default=0.01, ge=0.0, le=1.0, description=(
        "promotion also needs the metric no worse than the approved model's (the champion, scored on the same "
        "held-out rows) by more than this; the first model has no champion"))
    manual_approval: Optional[bool] = Field(default=None, description=(
        "a model that passes the gate is registered PendingManualApproval and waits for headlines model approve; "
        "null: manual in the prod stage, automatic elsewhere"))

    def approval_is_manual(self, stage: str) -> bool:
        return self.manual_approval if self.manual_approval is not None else stage == "prod"

    _check_hyperparameters = _hyperparameters("validate_classifier")
    _check_instance_types = _instance_type("training", "instance_type", "gpu_instance_type")

    @property
    def training_instance_type(self) -> str:
        return self.gpu_instance_type if self.gpu else self.instance_type

    @property
    def runtime_limit_seconds(self) -> int:
        """The job's MaxRuntimeInSeconds: the configured one, else the worst case these
        hyperparameters allow on data_rows rows, with a margin (headlines/training_time.py)."""
        if self.max_runtime_seconds is not None:
            return self.max_runtime_seconds
        from headlines.training_time import max_runtime_seconds

        return max_runtime_seconds(self.data_rows, self.training_instance_type, self.hyperparameters)


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
    serverless_provisioned_concurrency: Optional[int] = Field(
        default=None, ge=1, le=200, description="serverless instances kept warm (no cold start for them; billed while "
                                                "deployed); null: none")
    data_capture: bool = Field(description="capture requests and answers to s3://<artifacts>/datacapture/ (instance mode only)")
    data_capture_percent: int = Field(ge=1, le=100, description="share of the requests captured")

    _check_instance_type = _instance_type("endpoint", "instance_type")

    @model_validator(mode="after")
    def _provisioned_within_max(self) -> "ServingConfig":
        provisioned = self.serverless_provisioned_concurrency
        if provisioned is not None and provisioned > self.serverless_max_concurrency:
            raise ValueError("serverless_provisioned_concurrency must not exceed serverless_max_concurrency")
        return self

    @field_validator("serverless_memory_mb")
    @classmethod
    def _serverless_memory(cls, value: int) -> int:
        if value not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise ValueError("serverless_memory_mb must be one of 1024, 2048, ..., 6144")
        return value


class BatchConfig(_Strict):
    instance_type: str = Field(description="instance type of `headlines batch` (a SageMaker Batch Transform job on the approved model)")
    instance_count: int = Field(ge=1, description="instances of the transform job (each scores a share of the input files)")
    max_payload_mb: int = Field(ge=1, le=100, description="MaxPayloadInMB: the lines sent in one request (multi-record batches); "
                                                          "the model server's request limit follows it")
    max_concurrent_transforms: int = Field(ge=1, description="MaxConcurrentTransforms: requests in flight per instance (its "
                                                             "vCPUs: the model server runs a worker per CPU)")

    _check_instance_type = _instance_type("transform", "instance_type")

    @model_validator(mode="after")
    def _within_100_mb(self) -> "BatchConfig":
        # CreateTransformJob: "(MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100 MB".
        if self.max_concurrent_transforms * self.max_payload_mb > 100:
            raise ValueError("max_concurrent_transforms x max_payload_mb must not exceed 100 (MB, SageMaker's limit)")
        return self


class ApiConfig(_Strict):
    throttle_rate_limit: float = Field(gt=0, description="requests per second: stage throttling (all callers) and the usage plan")
    throttle_burst_limit: int = Field(ge=1, description="burst of requests: stage throttling and the usage plan")
    quota_per_day: int = Field(ge=1, description="requests per day of the usage plan (enforced for API-key callers)")
    api_key_required: bool = Field(description="callers send x-api-key (the page at / needs none)")
    cors_allow_origins: List[str] = Field(description="origins allowed by CORS")
    max_headline_chars: int = Field(ge=1, description="characters per headline: the gateway's request model, the Lambda "
                                                      "and the model container")
    max_batch_size: int = Field(ge=1, description="headlines per batch: the gateway's request model, the Lambda and the model container")
    # Within the handler's budget under API Gateway's 29 s, so callers get our 504, not the gateway's.
    endpoint_timeout_seconds: Optional[float] = Field(
        default=None, gt=0, le=ENDPOINT_BUDGET_SECONDS,
        description="the Lambda's wait for the model per attempt; null: 10 s for an instance endpoint, 24 s (the whole "
                    "budget under API Gateway's 29 s) for a serverless one, whose cold start it must outlast")
    logging_role: Literal["existing", "create"] = Field(
        default="existing", description="API Gateway logs through one CloudWatch role per account and region: existing "
                                        "uses the account's (headlines preflight checks it is set); create makes one and "
                                        "sets it for the whole account (kept on destroy)")


class NotebookConfig(_Strict):
    enabled: bool = Field(description="create the SageMaker notebook instance")
    instance_type: str = Field(description="notebook instance type (Amazon Linux 2023 runs no ml.p2, p3, p3dn, inf1 or g3)")
    volume_size_gb: int = Field(ge=5, description="notebook volume, in GB")
    repository_url: Optional[str] = Field(
        default=None, description="null: the notebook opens on the project deployed with the stack (an S3 asset the "
                                  "lifecycle configuration unpacks into ~/SageMaker/headlines-mlops); a git URL: SageMaker "
                                  "clones it instead (headlines preflight checks it is reachable)")
    idle_minutes: int = Field(ge=5, description="stop the instance after this many minutes without Jupyter activity")

    _check_instance_type = _instance_type("notebook", "instance_type")


class PipelineConfig(_Strict):
    notification_email: Optional[str] = Field(default=None, description="subscribed to the alert topic (pipeline failures, "
                                                                         "endpoint alarms); confirm the e-mail")
    timeout_minutes: Optional[int] = Field(
        default=None, ge=10, description="the state machine's timeout; null: what its states may take at most (the jobs' "
                                         "limits and their tasks' margins, plus 30 minutes); a shorter number is refused")


class FeedsConfig(_Strict):
    urls: List[str] = Field(default_factory=list, description="RSS 2.0 / Atom feeds of news headlines the scheduled feed "
                                                              "reader classifies and records (source=feed); empty: no "
                                                              "feed schedule and no feed function are deployed")
    interval_minutes: int = Field(default=15, ge=1, le=1440, description="how often the feed reader runs (an EventBridge "
                                                                        "rate schedule)")
    timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="per feed: the whole download must finish "
                                                                        "within this")
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024,
                           description="per feed: a bigger body is refused (and not read further)")
    max_items: int = Field(default=200, ge=1, le=5000, description="per feed and run: items beyond this are skipped")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: List[str]) -> List[str]:
        from urllib.parse import urlsplit

        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{url!r} is not an http(s) URL")
        if len(set(value)) != len(value):
            raise ValueError("a feed is listed twice")
        return value


class DriftConfig(_Strict):
    interval_minutes: int = Field(default=60, ge=5, le=1440, description="how often the drift check runs, over the "
                                                                       "records of the last window_hours")
    window_hours: int = Field(default=24, ge=1, le=24 * 14, description="the live traffic the drift check compares "
                                                                      "with the training data")
    min_records: int = Field(default=100, ge=1, description="fewer records in the window: the check publishes the "
                                                           "record count only (no drift figures from a handful of answers)")
    max_category_distance: float = Field(default=0.2, gt=0, le=1, description="alarm when the total variation distance "
                                                                               "between the live category mix and the training "
                                                                               "data's (half the sum of the absolute share "
                                                                               "differences, 0 to 1) exceeds this")
    low_confidence: float = Field(default=0.5, gt=0, lt=1, description="an answer with a confidence below this is "
                                                                       "low-confidence")
    max_low_confidence_share: float = Field(default=0.25, gt=0, le=1, description="alarm when the share of "
                                                                                  "low-confidence answers exceeds this")
    max_scanned_mb: int = Field(default=1024, ge=10, description="the Athena workgroup's per-query cutoff "
                                                                 "(BytesScannedCutoffPerQuery), in MB")


class ResultsConfig(_Strict):
    """Live results (issue #26): every answer recorded, analysed and watched."""

    store_text: bool = Field(default=True, description="keep each classified headline's text in its result record; false: "
                                                       "a keyed hash (HMAC-SHA256) instead (docs/results.md says where the "
                                                       "key is)")
    retention_days: int = Field(default=90, ge=1, le=3650, description="result records are deleted after this many "
                                                                       "days (the results bucket's lifecycle)")
    feeds: FeedsConfig = Field(default_factory=FeedsConfig, description="the scheduled feed reader")
    drift: DriftConfig = Field(default_factory=DriftConfig, description="the scheduled drift check and its alarms")


class HeadlinesConfig(_Strict):
    project_name: str = Field(description="prefix of resource names and SSM parameters")
    stage: Literal["dev", "prod"] = Field(description="dev: everything deleted on destroy; prod: data retained; part of "
                                                      "every name (stacks HeadlinesProdPipeline, HeadlinesProdServing)")
    data: DataConfig = Field(description="where the two public datasets come from")
    embeddings: EmbeddingsConfig = Field(description="the BlazingText (word2vec) training job")
    classifier: ClassifierConfig = Field(description="the MXNet script-mode training job running training/train.py")
    serving: ServingConfig = Field(description="the SageMaker endpoint")
    api: ApiConfig = Field(description="the REST API")
    batch: BatchConfig = Field(description="bulk scoring in AWS: `headlines batch` (SageMaker Batch Transform)")
    notebook: NotebookConfig = Field(description="the SageMaker notebook instance")
    pipeline: PipelineConfig = Field(description="the Step Functions pipeline")
    results: ResultsConfig = Field(default_factory=ResultsConfig, description="live results: the record store, the feed "
                                                                             "reader, the drift check")

    @property
    def retain_data(self) -> bool:
        """A prod stage keeps its data on destroy; a dev stage deletes everything."""
        return self.stage == "prod"

    @property
    def endpoint_timeout(self) -> float:
        """The API's endpoint timeout per attempt: the configured one, else by serving mode."""
        configured = self.api.endpoint_timeout_seconds
        return configured if configured is not None else DEFAULT_ENDPOINT_TIMEOUT_SECONDS[self.serving.mode]

    @property
    def pipeline_timeout_minutes(self) -> int:
        return self.pipeline.timeout_minutes or self._longest_execution_minutes()

    def _longest_execution_minutes(self) -> int:
        from headlines.training_time import TASK_TIMEOUT_MARGIN_SECONDS

        jobs = self.embeddings.max_runtime_seconds + self.classifier.runtime_limit_seconds
        return -(-(jobs + 2 * TASK_TIMEOUT_MARGIN_SECONDS + 1800) // 60)

    @model_validator(mode="after")
    def _pipeline_outlasts_its_jobs(self) -> "HeadlinesConfig":
        # A state machine timeout shorter than its jobs' limits stops a run that is still
        # training (and paying), with the cause hidden behind States.Timeout.
        longest = self._longest_execution_minutes()
        if self.pipeline.timeout_minutes is not None and self.pipeline.timeout_minutes < longest:
            raise ValueError(
                f"pipeline.timeout_minutes={self.pipeline.timeout_minutes} is shorter than the training jobs may run "
                f"({longest} min with their limits): raise it, or leave it unset"
            )
        return self

    @model_validator(mode="after")
    def _serverless_cold_start(self) -> "HeadlinesConfig":
        # A serverless endpoint that scaled to zero answers its first request after a cold
        # start (container and model load); a shorter timeout makes every such request a 504.
        if self.serving.mode == "serverless" and self.endpoint_timeout < SERVERLESS_MIN_ENDPOINT_TIMEOUT_SECONDS:
            raise ValueError(
                f"api.endpoint_timeout_seconds={self.endpoint_timeout:g} is shorter than a serverless cold start: "
                f"use at least {SERVERLESS_MIN_ENDPOINT_TIMEOUT_SECONDS:g} (or leave it unset) with serving.mode=serverless"
            )
        return self


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
