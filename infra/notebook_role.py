"""The notebook instance's role: what a data scientist may do from the project's notebook.

Read the data and artifacts, write ``scratch/``, start and follow the project's pipeline, run
training jobs (named ``<project>-...``) with the training role (``iam:PassRole`` on that role
only, to SageMaker only), read their logs, read the approved-model parameters, stop its own
instance (the idle auto-stop), call the project's endpoint, and list and describe the stage's
registered models (``headlines model list|show --aws``); approving one (UpdateModelPackage) is
not the notebook's to do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import nag
from infra.sagemaker_role import key_statements, log_group_statement
from infra.service_logs import NOTEBOOK_LOG_GROUP, TRAINING_JOBS_LOG_GROUP
from infra.storage import BATCH_INPUT_PREFIX, SCRATCH_PREFIX, Storage


@dataclass(frozen=True)
class NotebookAccessProps:
    notebook_name: str  # the instance it may stop
    state_machine_name: str
    stack_names: Sequence[str]  # whose outputs it reads
    parameter_names: Sequence[str]  # SSM parameters it reads
    training_job_prefix: str  # the training jobs it may run are named <prefix>-...
    transform_job_prefix: str  # the batch transform jobs it may run (headlines batch) are named <prefix>-...
    endpoint_name: str
    model_package_group_prefix: str  # the stage's registry: <prefix>-<8 hex of the stack id>


def notebook_statements(
    stack: Stack, props: NotebookAccessProps, storage: Storage, training_role: iam.IRole
) -> List[iam.PolicyStatement]:
    region, account, partition = stack.region, stack.account, stack.partition
    notebook_arn = stack.format_arn(service="sagemaker", resource="notebook-instance", resource_name=props.notebook_name.lower())
    machine = props.state_machine_name
    return [
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[storage.data.arn_for_objects("*"), storage.artifacts.arn_for_objects("*")],
        ),
        iam.PolicyStatement(actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], resources=[storage.data.arn_for_objects(SCRATCH_PREFIX + "*")]),
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.data.bucket_arn, storage.artifacts.bucket_arn]),
        *key_statements(storage.key.key_arn),
        # Streams are named <notebook name>/<hook or log>: its own only.
        log_group_statement(stack, NOTEBOOK_LOG_GROUP, f"{props.notebook_name}/"),
        # The idle auto-stop stops this instance, and only this one.
        iam.PolicyStatement(
            actions=["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"], resources=[notebook_arn]
        ),
        # Start and follow the project's pipeline (headlines pipeline start --wait / status).
        iam.PolicyStatement(
            actions=["states:StartExecution", "states:ListExecutions", "states:DescribeStateMachine"],
            resources=[f"arn:{partition}:states:{region}:{account}:stateMachine:{machine}"],
        ),
        iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"],
            resources=[f"arn:{partition}:states:{region}:{account}:execution:{machine}:*"],
        ),
        iam.PolicyStatement(
            actions=["cloudformation:DescribeStacks"],
            resources=[f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/*" for name in props.stack_names],
        ),
        iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[
            stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/")) for name in props.parameter_names
        ]),
        # Training jobs of its own stage (names start with <project>-<stage>), run by the training role.
        iam.PolicyStatement(
            actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
            resources=[f"arn:{partition}:sagemaker:{region}:{account}:training-job/{props.training_job_prefix}-*"],
        ),
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[training_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        # Its stage's job logs only: streams are named <job name>/algo-<n>-<time>.
        iam.PolicyStatement(
            actions=["logs:DescribeLogStreams"],
            resources=[f"arn:{partition}:logs:{region}:{account}:log-group:{TRAINING_JOBS_LOG_GROUP}"],
        ),
        iam.PolicyStatement(
            actions=["logs:GetLogEvents"],
            resources=[f"arn:{partition}:logs:{region}:{account}:log-group:{TRAINING_JOBS_LOG_GROUP}:log-stream:{props.training_job_prefix}-*"],
        ),
        # The stage's model registry: list and describe (ListModelPackages has no resource-level permissions).
        iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]),
        iam.PolicyStatement(
            actions=["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            resources=[f"arn:{partition}:sagemaker:{region}:{account}:model-package-group/{props.model_package_group_prefix}-*",
                       f"arn:{partition}:sagemaker:{region}:{account}:model-package/{props.model_package_group_prefix}-*/*"],
        ),
        # `headlines batch`: upload the input under batch/input/, run a transform job on the served
        # model (it runs as the model's role: no PassRole), read the answers (GetObject above).
        iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                            resources=[storage.artifacts.arn_for_objects(BATCH_INPUT_PREFIX + "*")]),
        iam.PolicyStatement(
            actions=["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
            resources=[f"arn:{partition}:sagemaker:{region}:{account}:transform-job/{props.transform_job_prefix}-*"],
        ),
        # Call the project's model directly (the REST API itself is public, optionally behind a key).
        iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
            resources=[f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{props.endpoint_name}"],
        ),
    ]


class NotebookRole(iam.Role):
    def __init__(
        self, scope: Construct, construct_id: str, *, props: NotebookAccessProps, storage: Storage, training_role: iam.IRole
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Notebook instance of the headlines project (data, scratch/, the pipeline, training jobs, the endpoint)",
        )
        for statement in notebook_statements(Stack.of(self), props, storage, training_role):
            self.add_to_principal_policy(statement)
        machine, jobs = re.escape(props.state_machine_name), re.escape(props.training_job_prefix)
        group = re.escape(props.model_package_group_prefix)
        transforms = re.escape(props.transform_job_prefix)
        nag.allow_wildcards(
            self,
            (nag.objects_under("StorageData", ""), "Data scientists read every object of the project's data bucket (and write only scratch/)."),
            (nag.objects_under("StorageArtifacts", ""), "Data scientists read the trained artifacts (embeddings, models) of the project."),
            (nag.objects_under("StorageData", SCRATCH_PREFIX), "The notebook writes its experiments under scratch/ only (expires after 30 days)."),
            (nag.log_streams_of(NOTEBOOK_LOG_GROUP, f"{props.notebook_name}/"), "The notebook writes its own log streams of the NotebookInstances log group only."),
            (rf"Resource::arn:{nag.PARTITION}:states:{nag.REGION}:{nag.ACCOUNT}:execution:{machine}:\*", "Follows the executions of the project's state machine only (names are made per execution)."),
            (rf"Resource::arn:{nag.PARTITION}:cloudformation:{nag.REGION}:{nag.ACCOUNT}:stack/[A-Za-z0-9-]+/\*", "Reads the outputs of the project's two stacks (the stack id suffix is generated)."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:training-job/{jobs}-\*", "Training jobs whose names start with the project and stage only."),
            (nag.objects_under("StorageArtifacts", BATCH_INPUT_PREFIX), "The notebook uploads what `headlines batch` scores under batch/input/ only."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:transform-job/{transforms}-\*", "Batch transform jobs whose names start with the project, stage and 'batch' only (named per run)."),
            (rf"Resource::arn:{nag.PARTITION}:logs:{nag.REGION}:{nag.ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:{jobs}-\*", "Reads the log streams of its stage's training jobs (named per job) to follow them."),
            (r"Resource::\*", "sagemaker:ListModelPackages has no resource-level permissions (headlines model list --aws)."),
            (rf"Resource::arn:{nag.PARTITION}:sagemaker:{nag.REGION}:{nag.ACCOUNT}:model-package(?:-group)?/{group}-\*(?:/\*)?",
             "Describes the stage's model package group and its versions (the group's name ends with a piece of the stack id)."),
        )
