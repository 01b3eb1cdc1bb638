"""The training pipeline: a Step Functions state machine.

    Ingest datasets (Lambda)
      -> Train embeddings (BlazingText training job, .sync)
      -> Train classifier (MXNet script-mode training job, .sync)
      -> Read quality metric -> Quality gate (Choice) -> Fail with a clear cause
      -> Read model version (Lambda: metrics.json of the artifact)
      -> Point serving at the model, Publish approval record (ssm:PutParameter) -> Succeed

Both SSM parameters belong to this stack (CloudFormation creates them with the value ``none``
and deletes them with the stack), so a destroyed stage leaves no pointer to a deleted bucket.
The state machine overwrites their values; CloudFormation never rewrites them as long as their
template properties stay the same (changing them would reset the value to ``none``).

Every Task state has a timeout and retries with exponential backoff and jitter on throttling
and transient service errors; the state machine logs ALL events to CloudWatch Logs, is traced
with X-Ray, and a failed, timed-out or aborted execution is announced on an SNS topic
(KMS-encrypted) through an EventBridge rule.

The quality gate reads the classifier job's ``FinalMetricDataList`` (filled by SageMaker from
the metric definitions below, which match the ``name=value;`` lines train.py prints). The gate
states use JSONata so that a missing metric gives a clear failure, not a runtime error.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from aws_cdk import Duration, Fn, RemovalPolicy, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from headlines import hyperparameters
from headlines.config import HeadlinesConfig
from infra import nag
from infra.functions import PythonFunction
from infra.images import Images
from headlines.naming import NO_MODEL, NO_MODEL_POINTER, approved_model_parameter, resource_prefix, serving_model_parameter, state_machine_name
from infra.storage import EMBEDDINGS_PREFIX, MODELS_PREFIX, RAW_PREFIX, Storage, removal_policy

NEWS_KEY = RAW_PREFIX + "news/NewsAggregatorDataset.zip"
CORPUS_KEY = RAW_PREFIX + "corpus/text8.zip"
NEWS_PREFIX = RAW_PREFIX + "news/"

#: Metrics train.py prints as ``name=value;`` lines; SageMaker keeps the last value of each.
CLASSIFIER_METRICS = ("test_accuracy", "test_macro_f1", "val_macro_f1", "train_loss")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def metric_regex(name: str) -> str:
    return f"{name}={_NUMBER};"


def blazingtext_hyperparameters(cfg: HeadlinesConfig) -> Dict[str, str]:
    """BlazingText takes strings; booleans as ``true``/``false`` (headlines.hyperparameters)."""
    return hyperparameters.blazingtext_hyperparameters(cfg)


def classifier_hyperparameters(cfg: HeadlinesConfig, submit_directory: str, region: str) -> Dict[str, str]:
    """Script-mode hyperparameters: the same map the local run writes to hyperparameters.json
    (vector_dim included), JSON-encoded like the SageMaker Python SDK does."""
    return hyperparameters.sagemaker_hyperparameters(hyperparameters.classifier_hyperparameters(cfg),
                                                     submit_directory, region)


def ingest_event(cfg: HeadlinesConfig, bucket_name: str) -> Dict[str, Any]:
    """The ingest Lambda's event (its contract with functions/ingest/ingest.py)."""
    return {
        "bucket": bucket_name,
        "sources": [
            {
                "name": "news",
                "url": cfg.data.news_url,
                "source_s3_uri": cfg.data.news_s3_uri,
                "key": NEWS_KEY,
                "sha256": cfg.data.news_sha256,
            },
            {
                "name": "corpus",
                "url": cfg.data.corpus_url,
                "source_s3_uri": cfg.data.corpus_s3_uri,
                "key": CORPUS_KEY,
                "sha256": cfg.data.corpus_sha256,
            },
        ],
    }


def _s3_object_arn(stack: Stack, uri: str) -> str:
    bucket_key = uri[len("s3://"):]
    return f"arn:{stack.partition}:s3:::{bucket_key}"


def _instance_type(name: str) -> ec2.InstanceType:
    # The CDK task renders "ml." + the EC2-style name.
    return ec2.InstanceType(name[3:] if name.startswith("ml.") else name)


def _throttling_retry(errors, interval_s: int = 5, attempts: int = 5) -> Dict[str, Any]:
    """Keyword arguments of ``add_retry``: exponential backoff with full jitter."""
    return dict(
        errors=list(errors),
        interval=Duration.seconds(interval_s),
        max_attempts=attempts,
        backoff_rate=2.0,
        max_delay=Duration.minutes(5),
        jitter_strategy=sfn.JitterType.FULL,
    )


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: HeadlinesConfig,
        storage: Storage,
        role: iam.IRole,
        images: Images,
        sourcedir: s3_assets.Asset,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = resource_prefix(cfg)
        removal = removal_policy(cfg)
        retention = logs.RetentionDays.ONE_YEAR if cfg.retain_data else logs.RetentionDays.ONE_MONTH
        job_prefix = cfg.project_name.lower()[:20]
        self.parameter_name = approved_model_parameter(cfg)
        self.parameter_arn = stack.format_arn(service="ssm", resource="parameter", resource_name=self.parameter_name.lstrip("/"))
        self.serving_parameter_name = serving_model_parameter(cfg)
        self.serving_parameter_arn = stack.format_arn(
            service="ssm", resource="parameter", resource_name=self.serving_parameter_name.lstrip("/")
        )
        # Owned by this stack (deleted with it, whatever the stage: a retained fixed name would
        # clash with the next deploy); the pipeline overwrites the values.
        self.parameters = [
            ssm.StringParameter(
                self,
                logical,
                parameter_name=name,
                string_value=initial,
                description=description,
            )
            for logical, name, initial, description in (
                ("ApprovalRecord", self.parameter_name, NO_MODEL, "Approval record (JSON) of the last approved model; written by the pipeline"),
                ("ServingModel", self.serving_parameter_name, NO_MODEL_POINTER, "'<model_version> <model_data_url>' of the approved model; written by the pipeline, deployed by the serving stack"),
            )
        ]

        # ---- failure notifications ------------------------------------------------------
        self.topic = sns.Topic(
            self, "Alerts", display_name=f"{prefix} pipeline and endpoint alerts", master_key=storage.key, enforce_ssl=True
        )
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            storage.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{service.split('.')[0].capitalize()}ToPublishToEncryptedTopic",
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # in a key policy, "*" is this key
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
        if cfg.pipeline.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(cfg.pipeline.notification_email))

        # ---- 1. ingest ------------------------------------------------------------------
        self.ingest = PythonFunction(
            self,
            "Ingest",
            folder="ingest",
            handler="ingest.handler",
            description="Streams the public datasets into the data bucket (idempotent)",
            environment={
                "DATA_BUCKET": storage.data.bucket_name,
                "POWERTOOLS_SERVICE_NAME": f"{cfg.project_name}-ingest",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            timeout=Duration.minutes(15),
            memory_mb=1024,
            ephemeral_mb=2048,
            log_retention=retention,
            removal=removal,
        )
        fn_role = self.ingest.role
        fn_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[storage.data.arn_for_objects(RAW_PREFIX + "*")],
            )
        )
        # ingest.py asks HeadObject whether a dataset is already there. S3 answers 404 for a
        # missing key only to a caller with s3:ListBucket on the bucket (403 otherwise), and a
        # HeadObject carries no s3:prefix, so a prefix-conditioned ListBucket would not apply.
        fn_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.data.bucket_arn]))
        fn_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[storage.key.key_arn])
        )
        sources = [uri for uri in (cfg.data.news_s3_uri, cfg.data.corpus_s3_uri) if uri]
        if sources:  # user-given S3 copies of the datasets: read exactly those objects
            fn_role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[_s3_object_arn(stack, uri) for uri in sources])
            )

        ingest = tasks.LambdaInvoke(
            self,
            "Ingest datasets",
            lambda_function=self.ingest.function,
            payload=sfn.TaskInput.from_object(ingest_event(cfg, storage.data.bucket_name)),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_selector={"objects.$": "$.objects"},
            result_path="$.ingest",
            task_timeout=sfn.Timeout.duration(Duration.minutes(16)),
            comment="Fetch text8 and the News Aggregator zip into the data bucket (skips objects already there)",
        )
        ingest.add_retry(
            **_throttling_retry(
                [
                    "Lambda.TooManyRequestsException",
                    "Lambda.ServiceException",
                    "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException",
                    "Lambda.ClientExecutionTimeoutException",
                ],
                interval_s=2,
                attempts=6,
            )
        )

        # ---- 2. embeddings (BlazingText) --------------------------------------------------
        sagemaker_retry = _throttling_retry(
            ["SageMaker.AmazonSageMakerException", "SageMaker.ThrottlingException", "SageMaker.ResourceLimitExceededException"],
            interval_s=15,
            attempts=5,
        )
        embeddings = tasks.SageMakerCreateTrainingJob(
            self,
            "Train embeddings",
            training_job_name=sfn.JsonPath.format(f"{job_prefix}-emb-{{}}", sfn.JsonPath.string_at("$$.Execution.Name")),
            role=role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(images.blazingtext),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters=blazingtext_hyperparameters(cfg),
            input_data_config=[
                tasks.Channel(
                    channel_name="train",
                    content_type="text/plain",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            # The plain text8 file the ingest Lambda unzips (its own key prefix).
                            s3_location=StaticS3Location(sfn.JsonPath.string_at("$.ingest.objects.corpus_text")),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=StaticS3Location(f"s3://{storage.artifacts.bucket_name}/{EMBEDDINGS_PREFIX}"),
                encryption_key=storage.key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=cfg.embeddings.instance_count,
                instance_type=_instance_type(cfg.embeddings.instance_type),
                volume_size=_gib(cfg.embeddings.volume_size_gb),
                volume_encryption_key=storage.key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(cfg.embeddings.max_runtime_seconds)),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            task_timeout=sfn.Timeout.duration(Duration.seconds(cfg.embeddings.max_runtime_seconds + 1800)),
            result_selector={
                "job_name.$": "$.TrainingJobName",
                "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            result_path="$.embeddings",
            tags={"project": cfg.project_name, "stage": cfg.stage},
            comment="word2vec (BlazingText) on text8",
        )
        embeddings.add_retry(**sagemaker_retry)

        # ---- 3. classifier (MXNet script mode) ------------------------------------------
        classifier = tasks.SageMakerCreateTrainingJob(
            self,
            "Train classifier",
            training_job_name=sfn.JsonPath.format(f"{job_prefix}-clf-{{}}", sfn.JsonPath.string_at("$$.Execution.Name")),
            role=role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(images.mxnet_training),
                training_input_mode=tasks.InputMode.FILE,
                metric_definitions=[tasks.MetricDefinition(name=name, regex=metric_regex(name)) for name in CLASSIFIER_METRICS],
            ),
            hyperparameters=classifier_hyperparameters(cfg, sourcedir.s3_object_url, stack.region),
            input_data_config=[
                tasks.Channel(
                    channel_name="train",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=StaticS3Location(f"s3://{storage.data.bucket_name}/{NEWS_PREFIX}"),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                ),
                tasks.Channel(
                    channel_name="embeddings",
                    content_type="application/x-tar",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=StaticS3Location(sfn.JsonPath.string_at("$.embeddings.model_data_url")),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                            s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                        )
                    ),
                ),
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=StaticS3Location(f"s3://{storage.artifacts.bucket_name}/{MODELS_PREFIX}"),
                encryption_key=storage.key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=1,
                instance_type=_instance_type(cfg.classifier.training_instance_type),
                volume_size=_gib(cfg.classifier.volume_size_gb),
                volume_encryption_key=storage.key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=Duration.seconds(cfg.classifier.runtime_limit_seconds)),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            task_timeout=sfn.Timeout.duration(Duration.seconds(cfg.classifier.runtime_limit_seconds + 1800)),
            # The whole DescribeTrainingJob answer: FinalMetricDataList may be missing, which a
            # ResultSelector could not express; the next state picks what it needs.
            result_path="$.classifier_job",
            tags={"project": cfg.project_name, "stage": cfg.stage},
            comment="MXNet Gluon headline classifier (training/train.py, script mode)",
        )
        classifier.add_retry(**sagemaker_retry)

        # ---- 4. quality gate (JSONata states) ---------------------------------------------
        metric = cfg.classifier.quality_metric
        threshold = cfg.classifier.quality_threshold
        read_metric = sfn.Pass.jsonata(
            self,
            "Read quality metric",
            comment=f"Pick {metric} from the classifier job's final metrics and build the approval record",
            outputs="{% (\n"
            "  $job := $states.input.classifier_job;\n"
            "  $list := $job.FinalMetricDataList;\n"
            f"  $value := $list[MetricName = '{metric}'][0].Value;\n"
            "  {\n"
            "    'ingest': $states.input.ingest,\n"
            "    'embeddings': $states.input.embeddings,\n"
            "    'classifier': {'job_name': $job.TrainingJobName, 'model_data_url': $job.ModelArtifacts.S3ModelArtifacts},\n"
            f"    'quality': {{'metric': '{metric}', 'threshold': {threshold}, 'value': $exists($value) ? $value : null}},\n"
            "    'approved': {\n"
            "      'model_data_url': $job.ModelArtifacts.S3ModelArtifacts,\n"
            "      'metrics': $exists($list) ? $merge([$list.{MetricName: Value}]) : {},\n"
            "      'execution_id': $states.context.Execution.Id,\n"
            "      'training_job_name': $job.TrainingJobName,\n"
            "      'embeddings_job_name': $states.input.embeddings.job_name\n"
            "    }\n"
            "  }\n"
            ") %}",
        )
        missing = sfn.Fail.jsonata(
            self,
            "Quality metric missing",
            error="QualityMetricMissing",
            cause="{% 'Training job ' & $states.input.classifier.job_name & ' reported no "
            + metric
            + " (train.py must print a line like " + metric + "=0.91;): the model is not approved.' %}",
        )
        below = sfn.Fail.jsonata(
            self,
            "Quality gate failed",
            error="QualityGateFailed",
            cause="{% '" + metric + " = ' & $string($states.input.quality.value) & ' is below the threshold "
            + str(threshold)
            + " (classifier.quality_threshold): model ' & $states.input.classifier.job_name & ' is not approved.' %}",
        )

        # ---- 5. model identity: the version inside the artifact -----------------------------
        self.identity = PythonFunction(
            self,
            "ModelIdentity",
            folder="model_identity",
            handler="model_identity.handler",
            description="Reads model_version from metrics.json of the trained model.tar.gz",
            environment={"POWERTOOLS_SERVICE_NAME": f"{cfg.project_name}-model-identity"},
            timeout=Duration.minutes(2),
            memory_mb=512,
            log_retention=retention,
            removal=removal,
        )
        self.identity.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[storage.artifacts.arn_for_objects(MODELS_PREFIX + "*")])
        )
        self.identity.role.add_to_principal_policy(iam.PolicyStatement(actions=["kms:Decrypt"], resources=[storage.key.key_arn]))
        read_version = tasks.LambdaInvoke(
            self,
            "Read model version",
            lambda_function=self.identity.function,
            payload=sfn.TaskInput.from_object({"model_data_url.$": "$.approved.model_data_url"}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.approved.model_version",
            task_timeout=sfn.Timeout.duration(Duration.minutes(3)),
            comment="model_version of metrics.json in the artifact (the content hash of its parameters)",
        )
        read_version.add_retry(
            **_throttling_retry(
                ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
                interval_s=2,
                attempts=5,
            )
        )

        # ---- 6. publish ---------------------------------------------------------------------
        ssm_retry = _throttling_retry(
            ["Ssm.TooManyUpdatesException", "Ssm.ThrottlingException", "Ssm.InternalServerErrorException"],
            interval_s=2,
            attempts=5,
        )
        def put_parameter(construct_id: str, arn: str, name: str, value_path: str, comment: str) -> tasks.CallAwsService:
            task = tasks.CallAwsService(
                self,
                construct_id,
                service="ssm",
                action="putParameter",
                iam_action="ssm:PutParameter",
                iam_resources=[arn],
                parameters={"Name": name, "Type": "String", "Overwrite": True, "Value.$": value_path},
                result_path=sfn.JsonPath.DISCARD,
                task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
                comment=comment,
            )
            task.add_retry(**ssm_retry)
            return task

        point = put_parameter(
            "Point serving at the model", self.serving_parameter_arn, self.serving_parameter_name,
            "States.Format('{} {}', $.approved.model_version, $.approved.model_data_url)",
            f"'<model_version> <model_data_url>' to {self.serving_parameter_name} (the serving stack deploys it)")
        publish = put_parameter(
            "Publish approved model", self.parameter_arn, self.parameter_name, "States.JsonToString($.approved)",
            f"Write the approval record to {self.parameter_name}")
        done = sfn.Succeed(self, "Model approved", output_path="$.approved")

        gate = (
            sfn.Choice.jsonata(self, "Quality gate", comment=f"{metric} >= {threshold}")
            .when(sfn.Condition.jsonata("{% $states.input.quality.value = null %}"), missing)
            .when(
                sfn.Condition.jsonata(f"{{% $states.input.quality.value >= {threshold} %}}"),
                read_version.next(point).next(publish).next(done),
            )
            .otherwise(below)
        )

        definition = ingest.next(embeddings).next(classifier).next(read_metric).next(gate)

        # The log group is retained in prod, so its name ends with this stack's id: a redeploy
        # after a destroy creates a new one instead of clashing with the kept one. (The
        # /aws/vendedlogs/ prefix keeps CloudWatch Logs' account resource policy small.) The
        # state machine has a fixed name and is always deleted with the stack (its execution
        # history is not data worth keeping).
        stack_uuid = Fn.select(2, Fn.split("/", stack.stack_id))
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=Fn.join("", [f"/aws/vendedlogs/states/{prefix}-pipeline-", stack_uuid]),
            retention=retention,
            removal_policy=removal,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(cfg),
            comment="headlines: ingest -> embeddings -> classifier -> quality gate -> publish",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.minutes(cfg.pipeline.timeout_minutes),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            removal_policy=RemovalPolicy.DESTROY,
        )

        rule = events.Rule(
            self,
            "FailedExecutions",
            description=f"{prefix}: pipeline executions that failed, timed out or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
        )
        rule.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    f"{prefix} pipeline execution {events.EventField.from_path('$.detail.name')} "
                    f"ended {events.EventField.from_path('$.detail.status')}: "
                    f"{events.EventField.from_path('$.detail.cause')} "
                    f"({events.EventField.from_path('$.detail.executionArn')})"
                ),
            )
        )

        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageData", RAW_PREFIX), "The ingest function writes the datasets under raw/ only."),
            (nag.objects_under("StorageArtifacts", MODELS_PREFIX), "The model-identity function reads trained artifacts under models/ only."),
            (r"Resource::<PipelineModelIdentityFunction[A-Za-z0-9]*\.Arn>:\*", "Step Functions' Lambda integration may invoke the model-identity function's versions/aliases (CDK's grant)."),
            (r"Resource::<PipelineIngestFunction[A-Za-z0-9]*\.Arn>:\*", "Step Functions' Lambda integration may invoke the ingest function's versions/aliases (CDK's grant)."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:training-job/\*", "The SageMaker .sync integration creates, describes and stops training jobs whose names are made per execution."),
            nag.XRAY,
        )


def _gib(n: int) -> Size:
    return Size.gibibytes(n)


class StaticS3Location(tasks.S3Location):
    """An S3 URI (fixed, or a JSONPath of the state) that adds no IAM grant to the job role.

    CDK's ``S3Location.from_bucket`` grants wildcard actions (``s3:GetObject*``, ``s3:List*``,
    ``s3:DeleteObject*``...) on the prefix, and ``from_json_expression`` grants
    ``s3:GetObject``/``s3:ListBucket`` on ``*``; the execution role already holds exactly the
    permissions the jobs need (infra/sagemaker_role.py).
    """

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    def bind(self, task, *, for_reading=None, for_writing=None) -> tasks.S3LocationConfig:  # noqa: ARG002
        return tasks.S3LocationConfig(uri=self._uri)
