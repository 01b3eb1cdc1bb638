"""The two stacks: the pipeline (training) stack and the serving stack.

They are separate so that serving can be deployed later, once the pipeline has approved a
model, and redeployed on its own for each new model (``cdk deploy <prefix>Serving``). Both are
always synthesized: the serving stack resolves the approved model when CloudFormation deploys
it (infra/serving.py), so ``cdk destroy --all`` always sees it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from aws_cdk import CfnOutput, Fn, Stack, Stage
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from headlines.config import HeadlinesConfig
from headlines.sourcedir import build_sourcedir
from infra.api import Api
from infra.images import Images, resolve_images
from headlines.naming import (
    OUTPUT_API_URL,
    OUTPUT_STATE_MACHINE_ARN,
    approved_model_parameter,
    serving_model_parameter,
    state_machine_name,
)
from infra.notebook import Notebook
from infra.pipeline import Pipeline
from infra.sagemaker_role import SageMakerExecutionRole
from infra.serving import Serving
from infra.storage import Storage, removal_policy


def _build_dir(scope: Construct) -> Path:
    """Where synth-time build products go: inside the cloud assembly's output folder."""
    outdir = Stage.of(scope).outdir if Stage.of(scope) else None
    base = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="headlines-build-"))
    return base / ".build"


class PipelineStack(Stack):
    """Storage, the SageMaker execution role, the notebook and the training pipeline."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: HeadlinesConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, description=f"{cfg.project_name} ({cfg.stage}): data, training pipeline, notebook", **kwargs)
        self.cfg = cfg
        self.images: Images = resolve_images(cfg, self.region)
        self.storage = Storage(self, "Storage", cfg=cfg)

        # SageMaker script mode wants a tar.gz (CDK directory assets are zips): build it,
        # byte-reproducibly, and publish it as a file asset.
        tarball = build_sourcedir(_build_dir(self) / "sourcedir.tar.gz")
        self.sourcedir = s3_assets.Asset(self, "SourceDir", path=str(tarball))

        self.training_role = SageMakerExecutionRole(
            self,
            "TrainingRole",
            storage=self.storage,
            image_uris=[self.images.blazingtext, self.images.mxnet_training],
            sourcedir=self.sourcedir,
        )
        self.notebook: Optional[Notebook] = None
        if cfg.notebook.enabled:
            self.notebook = Notebook(
                self,
                "Notebook",
                cfg=cfg,
                storage=self.storage,
                training_role=self.training_role.role,
                state_machine_name=state_machine_name(cfg),
                parameter_names=[approved_model_parameter(cfg), serving_model_parameter(cfg)],
            )
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            cfg=cfg,
            storage=self.storage,
            role=self.training_role.role,
            images=self.images,
            sourcedir=self.sourcedir,
        )

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
        CfnOutput(self, "AlertsTopicArn", value=self.pipeline.topic.topic_arn, export_name=self.export_name("AlertsTopicArn"))
        CfnOutput(self, "NotebookName", value=self.notebook.notebook_name if self.notebook else "(disabled)")


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
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, description=f"{cfg.project_name} ({cfg.stage}): model endpoint and REST API", **kwargs)
        removal = removal_policy(cfg)
        retention = logs.RetentionDays.ONE_YEAR if cfg.retain_data else logs.RetentionDays.ONE_MONTH
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
            cfg=cfg,
            images=pipeline.images,
            key=key,
            artifacts=artifacts,
            alarm_topic=topic,
        )
        self.api = Api(
            self,
            "Api",
            cfg=cfg,
            endpoint_name=self.serving.endpoint.attr_endpoint_name,
            endpoint_arn=self.serving.endpoint_arn,
            model_version=self.serving.model_version,
            removal=removal,
            log_retention=retention,
        )
        CfnOutput(self, OUTPUT_API_URL, value=self.api.api.url,
                  description="Base URL: POST <ApiUrl>v1/classify, GET <ApiUrl>v1/health")
        CfnOutput(self, "ClassifyUrl", value=self.api.api.url_for_path("/v1/classify"))
        CfnOutput(self, "EndpointName", value=self.serving.endpoint.attr_endpoint_name)
        CfnOutput(self, "ModelDataUrl", value=self.serving.model_data_url)
        CfnOutput(self, "ModelVersion", value=self.serving.model_version,
                  description="Content hash of the model's parameters (metrics.json model_version; /v1/health reports it)")
        if self.api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=self.api.api_key.key_id,
                      description="aws apigateway get-api-key --include-value --api-key <id>")
