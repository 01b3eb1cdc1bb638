"""The two stacks: the pipeline (training) stack and the serving stack.

They are separate so that serving can be deployed later, once the pipeline has approved a
model, and redeployed on its own for each new model (``cdk deploy <prefix>Serving``). Both are
always synthesized: the serving stack resolves the approved model when CloudFormation deploys
it (infra/serving.py), so ``cdk destroy --all`` always sees it.

This is the one place that reads ``HeadlinesConfig``: the ``*_props`` functions below turn it
into the narrow props of each construct.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

from aws_cdk import ArnFormat, CfnOutput, Fn, Stack, Stage
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from headlines import hyperparameters
from headlines.config import HeadlinesConfig
from headlines.naming import (
    OUTPUT_API_URL,
    OUTPUT_MODEL_NAME,
    OUTPUT_MODEL_PACKAGE_GROUP,
    OUTPUT_MODEL_VERSION,
    OUTPUT_STATE_MACHINE_ARN,
    approved_model_parameter,
    dashboard_name,
    endpoint_name,
    model_package_group_name,
    pipeline_stack_name,
    resource_prefix,
    results_database,
    results_stream,
    results_workgroup,
    serving_model_parameter,
    serving_stack_name,
    state_machine_name,
    training_job_prefix,
    transform_job_prefix,
)
from headlines.results import schema as results_schema
from headlines.sourcedir import build_project_archive, build_sourcedir
from infra.api import Api, ApiProps
from infra.api_function import ApiFunctionProps
from infra.dashboard import DashboardProps, HeadlinesDashboard
from infra.drift_watch import DriftWatch, DriftWatchProps, ResultsLocation
from infra.endpoint import AutoscalingProps, CapacityProps, DataCaptureProps
from infra.feeds import FeedReader, FeedReaderProps
from infra.images import ImageProps, Images, resolve_images
from infra.ingest_step import CORPUS_KEY, NEWS_KEY, DatasetSource, IngestStepProps
from infra.notebook import Notebook, NotebookProps
from infra.notebook_role import NotebookAccessProps
from infra.pipeline import Pipeline, PipelineProps
from infra.pipeline_alerts import AlertsTopicProps
from infra.publish_steps import ModelVersionStepProps
from infra.quality_gate import QualityGateProps
from infra.registry import RegistryProps
from infra.rest_api import RestApiProps
from infra.results_recording import RecordingTarget
from infra.results_store import ResultsStore, ResultsStoreProps
from infra.retention import Retention
from infra.sagemaker_role import SageMakerExecutionRole
from infra.service_logs import TRAINING_JOBS_LOG_GROUP, shared_service_log_group
from infra.serving import ApprovedModelProps, Serving, ServingProps
from infra.storage import Storage, StorageProps
from infra.training_jobs import TrainingJobProps

# ---- HeadlinesConfig -> props ------------------------------------------------------------


def image_props(cfg: HeadlinesConfig) -> ImageProps:
    return ImageProps(
        framework_version=cfg.classifier.framework_version,
        py_version=cfg.classifier.py_version,
        training_instance_type=cfg.classifier.training_instance_type,  # the GPU switch picks a GPU type
        inference_instance_type=cfg.serving.instance_type,  # serverless runs on CPU: the CPU image either way
    )


def notebook_props(cfg: HeadlinesConfig) -> NotebookProps:
    prefix = resource_prefix(cfg)
    return NotebookProps(
        code_repository_name=f"{prefix}-project",
        repository_url=cfg.notebook.repository_url,
        instance_type=cfg.notebook.instance_type,
        volume_size_gb=cfg.notebook.volume_size_gb,
        idle_minutes=cfg.notebook.idle_minutes,
        access=NotebookAccessProps(
            notebook_name=f"{prefix}-notebook",
            state_machine_name=state_machine_name(cfg),
            stack_names=(pipeline_stack_name(cfg), serving_stack_name(cfg)),
            parameter_names=(approved_model_parameter(cfg), serving_model_parameter(cfg)),
            training_job_prefix=training_job_prefix(cfg),
            transform_job_prefix=transform_job_prefix(cfg),
            endpoint_name=endpoint_name(cfg),
            model_package_group_prefix=model_package_group_name(cfg),
        ),
    )


def pipeline_props(cfg: HeadlinesConfig, images: Images) -> PipelineProps:
    retention = Retention.of_stage(cfg.retain_data)
    data, classifier, embeddings = cfg.data, cfg.classifier, cfg.embeddings
    job_prefix = training_job_prefix(cfg)
    tags = {"project": cfg.project_name, "stage": cfg.stage}
    return PipelineProps(
        resource_prefix=resource_prefix(cfg),
        state_machine_name=state_machine_name(cfg),
        training_job_prefix=job_prefix,
        approval_parameter=approved_model_parameter(cfg),
        serving_parameter=serving_model_parameter(cfg),
        timeout_minutes=cfg.pipeline_timeout_minutes,
        retention=retention,
        alerts=AlertsTopicProps(resource_prefix=resource_prefix(cfg), notification_email=cfg.pipeline.notification_email),
        ingest=IngestStepProps(
            service_name=f"{cfg.project_name}-ingest",
            sources=(
                DatasetSource("news", tuple(data.news_urls), NEWS_KEY, s3_uri=data.news_s3_uri, sha256=data.news_sha256,
                              expected_members=data.news_members),
                DatasetSource("corpus", (data.corpus_url,), CORPUS_KEY, s3_uri=data.corpus_s3_uri,
                              sha256=data.corpus_sha256, expected_members=data.corpus_members),
            ),
            retention=retention,
        ),
        embeddings=TrainingJobProps(
            job_name_prefix=f"{job_prefix}-emb",
            image_uri=images.blazingtext,
            instance_type=embeddings.instance_type,
            instance_count=embeddings.instance_count,
            volume_size_gb=embeddings.volume_size_gb,
            max_runtime_seconds=embeddings.max_runtime_seconds,
            hyperparameters=hyperparameters.blazingtext_hyperparameters(cfg),
            tags=tags,
        ),
        classifier=TrainingJobProps(
            job_name_prefix=f"{job_prefix}-clf",
            image_uri=images.mxnet_training,
            instance_type=classifier.training_instance_type,
            volume_size_gb=classifier.volume_size_gb,
            max_runtime_seconds=classifier.runtime_limit_seconds,
            hyperparameters=hyperparameters.classifier_hyperparameters(cfg),
            tags=tags,
        ),
        quality_gate=QualityGateProps(metric=classifier.quality_metric, threshold=classifier.quality_threshold,
                                      tolerance=classifier.champion_tolerance),
        registry=RegistryProps(
            group_prefix=model_package_group_name(cfg),
            inference_image=images.mxnet_inference,
            framework_version=classifier.framework_version,
            manual_approval=classifier.approval_is_manual(cfg.stage),
            service_name=f"{cfg.project_name}-model-approval",
            retention=retention,
        ),
        model_version=ModelVersionStepProps(service_name=f"{cfg.project_name}-model-identity", retention=retention),
    )


def no_model_message(cfg: HeadlinesConfig) -> str:
    return (
        f"No model has been approved yet ({serving_model_parameter(cfg)} says none): run "
        f"headlines pipeline start --wait, then deploy {serving_stack_name(cfg)} again."
    )


def serving_props(cfg: HeadlinesConfig) -> ServingProps:
    serving = cfg.serving
    scaling = serving.autoscaling
    return ServingProps(
        resource_prefix=resource_prefix(cfg),
        endpoint_name=endpoint_name(cfg),
        retention=Retention.of_stage(cfg.retain_data),
        approved_model=ApprovedModelProps(parameter_name=serving_model_parameter(cfg), no_model_message=no_model_message(cfg)),
        capacity=CapacityProps(
            mode=serving.mode,
            instance_type=serving.instance_type,
            initial_instance_count=serving.initial_instance_count,
            serverless_memory_mb=serving.serverless_memory_mb,
            serverless_max_concurrency=serving.serverless_max_concurrency,
            serverless_provisioned_concurrency=serving.serverless_provisioned_concurrency,
        ),
        autoscaling=AutoscalingProps(
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            target_invocations_per_instance=scaling.target_invocations_per_instance,
        ) if scaling else None,
        data_capture=DataCaptureProps(sampling_percent=serving.data_capture_percent) if serving.data_capture else None,
        max_batch_size=cfg.api.max_batch_size,
        max_headline_chars=cfg.api.max_headline_chars,
    )


def api_props(cfg: HeadlinesConfig) -> ApiProps:
    api, prefix, retention = cfg.api, resource_prefix(cfg), Retention.of_stage(cfg.retain_data)
    return ApiProps(
        retention=retention,
        rest_api=RestApiProps(
            resource_prefix=prefix,
            stage_name=cfg.stage,
            throttle_rate_limit=api.throttle_rate_limit,
            throttle_burst_limit=api.throttle_burst_limit,
            quota_per_day=api.quota_per_day,
            api_key_required=api.api_key_required,
            cors_allow_origins=tuple(api.cors_allow_origins),
            max_headline_chars=api.max_headline_chars,
            max_batch_size=api.max_batch_size,
            create_logging_role=api.logging_role == "create",
        ),
        function=ApiFunctionProps(
            resource_prefix=prefix,
            service_name=f"{cfg.project_name}-api",
            metrics_namespace=cfg.project_name,
            max_headline_chars=api.max_headline_chars,
            max_batch_size=api.max_batch_size,
            endpoint_timeout_seconds=cfg.endpoint_timeout,
            cors_allow_origins=tuple(api.cors_allow_origins),
            retention=retention,
        ),
    )


def results_store_props(cfg: HeadlinesConfig) -> ResultsStoreProps:
    return ResultsStoreProps(
        resource_prefix=resource_prefix(cfg),
        database_name=results_database(cfg),
        workgroup_name=results_workgroup(cfg),
        stream_name=results_stream(cfg),
        retention_days=cfg.results.retention_days,
        store_text=cfg.results.store_text,
        max_scanned_mb=cfg.results.drift.max_scanned_mb,
        retention=Retention.of_stage(cfg.retain_data),
    )


def feed_reader_props(cfg: HeadlinesConfig) -> FeedReaderProps:
    feeds = cfg.results.feeds
    return FeedReaderProps(
        resource_prefix=resource_prefix(cfg),
        service_name=f"{cfg.project_name}-feeds",
        metrics_namespace=cfg.project_name,
        feeds=tuple(feeds.urls),
        interval_minutes=feeds.interval_minutes,
        timeout_seconds=feeds.timeout_seconds,
        max_bytes=feeds.max_bytes,
        max_items=feeds.max_items,
        retention=Retention.of_stage(cfg.retain_data),
    )


def drift_watch_props(cfg: HeadlinesConfig) -> DriftWatchProps:
    drift = cfg.results.drift
    return DriftWatchProps(
        resource_prefix=resource_prefix(cfg),
        service_name=f"{cfg.project_name}-drift",
        metrics_namespace=cfg.project_name,
        database_name=results_database(cfg),
        table_name=results_schema.TABLE,
        workgroup_name=results_workgroup(cfg),
        interval_minutes=drift.interval_minutes,
        window_hours=drift.window_hours,
        min_records=drift.min_records,
        low_confidence=drift.low_confidence,
        max_category_distance=drift.max_category_distance,
        max_low_confidence_share=drift.max_low_confidence_share,
        retention=Retention.of_stage(cfg.retain_data),
    )


# ---- stacks ------------------------------------------------------------------------------


def _build_dir(scope: Construct) -> Path:
    """Where synth-time build products go: inside the cloud assembly's output folder."""
    stage = Stage.of(scope)
    outdir = stage.outdir if stage else None
    base = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="headlines-build-"))
    return base / ".build"


class PipelineStack(Stack):
    """Storage, the SageMaker execution role, the notebook and the training pipeline."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: HeadlinesConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=f"{cfg.project_name} ({cfg.stage}): data, training pipeline, notebook", **kwargs)
        self.cfg = cfg
        self.images: Images = resolve_images(image_props(cfg), self.region)
        self.storage = Storage(
            self, "Storage", props=StorageProps(resource_prefix=resource_prefix(cfg), retention=Retention.of_stage(cfg.retain_data))
        )
        # SageMaker script mode wants a tar.gz (CDK directory assets are zips): build it,
        # byte-reproducibly, and publish it as a file asset.
        tarball = build_sourcedir(_build_dir(self) / "sourcedir.tar.gz")
        self.sourcedir = s3_assets.Asset(self, "SourceDir", path=str(tarball))
        # The account's training job logs (infra/service_logs.py): a retention, kept on destroy.
        self.training_logs = shared_service_log_group(self, "TrainingJobLogs", TRAINING_JOBS_LOG_GROUP)
        self.training_role = SageMakerExecutionRole(
            self,
            "TrainingRole",
            storage=self.storage,
            image_uris=[self.images.blazingtext, self.images.mxnet_training],
            sourcedir=self.sourcedir,
            job_prefix=training_job_prefix(cfg),
        )
        self.notebook: Optional[Notebook] = None
        if cfg.notebook.enabled:
            # The notebook opens on the project as deployed (unless a repository is configured).
            project = None
            if cfg.notebook.repository_url is None:
                archive = build_project_archive(_build_dir(self) / "project.tar.gz")
                project = s3_assets.Asset(self, "NotebookProject", path=str(archive))
            self.notebook = Notebook(
                self, "Notebook", props=notebook_props(cfg), storage=self.storage, training_role=self.training_role.role,
                project=project,
            )
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            props=pipeline_props(cfg, self.images),
            storage=self.storage,
            role=self.training_role.role,
            sourcedir=self.sourcedir,
        )
        # Live results (issue #26): kept with the data, whatever happens to the serving stack.
        self.results = ResultsStore(self, "Results", props=results_store_props(cfg), key=self.storage.key,
                                    access_logs=self.storage.access_logs)
        if self.notebook is not None:
            self.results.grant_queries(self.notebook.role)  # notebook 04 asks Athena
        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, OUTPUT_STATE_MACHINE_ARN, value=self.pipeline.state_machine.state_machine_arn,
                  description="Start it with: headlines pipeline start --wait")
        CfnOutput(self, "DataBucketName", value=self.storage.data.bucket_name)
        CfnOutput(self, "ArtifactsBucketName", value=self.storage.artifacts.bucket_name,
                  export_name=self.export_name("ArtifactsBucketName"))
        CfnOutput(self, "KeyArn", value=self.storage.key.key_arn, export_name=self.export_name("KeyArn"))
        CfnOutput(self, "AccessLogsBucketName", value=self.storage.access_logs.bucket_name)
        CfnOutput(self, "ApprovedModelParameter", value=self.pipeline.parameter_name,
                  description="SSM parameter the pipeline writes the approval record to")
        CfnOutput(self, "ServingModelParameter", value=self.pipeline.serving_parameter_name,
                  description="SSM parameter the serving stack deploys the model of")
        CfnOutput(self, OUTPUT_MODEL_PACKAGE_GROUP, value=self.pipeline.registry.group_name,
                  description="The model registry: headlines model list --aws")
        CfnOutput(self, "AlertsTopicArn", value=self.pipeline.topic.topic_arn, export_name=self.export_name("AlertsTopicArn"))
        CfnOutput(self, "NotebookName", value=self.notebook.notebook_name if self.notebook else "(disabled)")
        CfnOutput(self, "ResultsBucketName", value=self.results.bucket.bucket_name, export_name=self.export_name("ResultsBucketName"))
        CfnOutput(self, "ResultsStreamName", value=self.results.stream_name, export_name=self.export_name("ResultsStreamName"))
        CfnOutput(self, "ResultsStreamArn", value=self.results.stream_arn, export_name=self.export_name("ResultsStreamArn"))
        CfnOutput(self, "ResultsDatabase", value=self.results.database_name,
                  description="Glue database of the results table (Athena: SELECT ... FROM results)")
        CfnOutput(self, "ResultsWorkGroup", value=self.results.workgroup_name, description="Athena workgroup of the results' queries")
        if self.results.hash_key is not None:
            CfnOutput(self, "ResultsHashKeyArn", value=self.results.hash_key.secret_arn, export_name=self.export_name("ResultsHashKeyArn"),
                      description="the key of the headlines' keyed hash (results.store_text: false)")

    def export_name(self, name: str) -> str:
        """Explicit export names: the serving stack imports these (and only these) values."""
        return f"{self.stack_name}-{name}"


class ServingStack(Stack):
    """The SageMaker endpoint of one approved model, and the REST API in front of it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
        pipeline: PipelineStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"{cfg.project_name} ({cfg.stage}): model endpoint and REST API", **kwargs)
        # Explicit imports of the pipeline stack's exports (not implicit cross-stack references):
        # stable names, and the serving stack can be destroyed and redeployed on its own.
        self.add_stack_dependency(pipeline)
        key = kms.Key.from_key_arn(self, "ProjectKey", Fn.import_value(pipeline.export_name("KeyArn")))
        artifacts = s3.Bucket.from_bucket_name(
            self, "ArtifactsBucket", Fn.import_value(pipeline.export_name("ArtifactsBucketName"))
        )
        topic = sns.Topic.from_topic_arn(self, "AlertsTopic", Fn.import_value(pipeline.export_name("AlertsTopicArn")))
        self.serving = Serving(
            self,
            "Serving",
            props=serving_props(cfg),
            image_uri=pipeline.images.mxnet_inference,
            key=key,
            artifacts=artifacts,
            alarm_topic=topic,
        )
        self.api = Api(
            self,
            "Api",
            props=api_props(cfg),
            endpoint_name=self.serving.endpoint.attr_endpoint_name,
            endpoint_arn=self.serving.endpoint_arn,
            model_version=self.serving.model_version,
        )
        self._results(cfg, pipeline, key, artifacts, topic)
        self._outputs()

    def _results(self, cfg: HeadlinesConfig, pipeline: PipelineStack, key: kms.IKey, artifacts: s3.IBucket,
                 topic: sns.ITopic) -> None:
        """Answers recorded through Firehose, the feed reader (when feeds are configured), the
        drift watch and the dashboard (issue #26)."""
        stream_name = Fn.import_value(pipeline.export_name("ResultsStreamName"))
        recording = RecordingTarget(
            stream_name=stream_name,
            stream_arn=Fn.import_value(pipeline.export_name("ResultsStreamArn")),
            store_text=cfg.results.store_text,
            key=key,
            hash_key_secret_arn=None if cfg.results.store_text else Fn.import_value(pipeline.export_name("ResultsHashKeyArn")),
        )
        self.api.handler.record_results_to(recording)
        endpoint_environment = self.api.handler.endpoint_environment
        self.feeds: Optional[FeedReader] = None
        if cfg.results.feeds.urls:
            self.feeds = FeedReader(self, "Feeds", props=feed_reader_props(cfg), endpoint_environment=endpoint_environment,
                                    endpoint_arn=self.serving.endpoint_arn, recording=recording)
        results_bucket = s3.Bucket.from_bucket_name(self, "ResultsBucket", Fn.import_value(pipeline.export_name("ResultsBucketName")))
        self.drift = DriftWatch(self, "Drift", props=drift_watch_props(cfg), results=ResultsLocation(bucket=results_bucket, key=key),
                                artifacts=artifacts, model_data_url=self.serving.model_data_url, alarm_topic=topic)
        self.dashboard = HeadlinesDashboard(self, "Dashboard", props=DashboardProps(
            dashboard_name=dashboard_name(cfg),
            api_name=f"{resource_prefix(cfg)}-api",
            stage_name=cfg.stage,
            api_function_name=self.api.handler.function.function_name,
            api_service_name=f"{cfg.project_name}-api",
            metrics_namespace=cfg.project_name,
            endpoint_name=endpoint_name(cfg),
            categories=tuple(results_schema.document()["categories"]),
            state_machine_arn=self.format_arn(service="states", resource="stateMachine", resource_name=state_machine_name(cfg),
                                              arn_format=ArnFormat.COLON_RESOURCE_NAME),
            stream_name=stream_name,
            feed_service_name=f"{cfg.project_name}-feeds" if self.feeds else None,
        ), drift_metrics=[self.drift.metric(name) for name in ("DriftCategoryDistance", "DriftLowConfidenceShare")])

    def _outputs(self) -> None:
        CfnOutput(self, OUTPUT_API_URL, value=self.api.api.url,
                  description="Base URL: POST <ApiUrl>v1/classify, GET <ApiUrl>v1/health")
        CfnOutput(self, "ClassifyUrl", value=self.api.api.url_for_path("/v1/classify"))
        CfnOutput(self, "EndpointName", value=self.serving.endpoint.attr_endpoint_name)
        CfnOutput(self, "ModelDataUrl", value=self.serving.model_data_url)
        CfnOutput(self, OUTPUT_MODEL_NAME, value=self.serving.model.attr_model_name,
                  description="The SageMaker Model the endpoint serves: `headlines batch` runs its transform jobs on it")
        CfnOutput(self, OUTPUT_MODEL_VERSION, value=self.serving.model_version,
                  description="Content hash of the model's parameters (metrics.json model_version; /v1/health reports it)")
        if self.api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=self.api.api_key.key_id,
                      description="aws apigateway get-api-key --include-value --api-key <id>")
