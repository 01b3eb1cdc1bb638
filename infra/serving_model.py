"""The served model: its execution role and the SageMaker Model (MXNet inference container).

The approved ``model.tar.gz`` carries its serving code under ``code/``; the container is pointed
at it with ``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY``. The Model has no explicit
name: a new artifact replaces it (and so the EndpointConfig) under a new generated name, which
is what makes the endpoint update blue/green (infra/endpoint.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra import nag
from infra.sagemaker_role import ecr_pull_statements, log_group_statement, metrics_statement
from infra.service_logs import endpoint_log_group
from infra.storage import BATCH_INPUT_PREFIX, BATCH_OUTPUT_PREFIX, DATA_CAPTURE_PREFIX, MODELS_PREFIX


@dataclass(frozen=True)
class ModelRoleProps:
    resource_prefix: str
    endpoint_name: str  # its log group
    image_uri: str  # the inference image it pulls
    data_capture: bool = False  # may write datacapture/
    volume_key: bool = True  # instance mode: ML storage volume encrypted with the project key


def model_role_statements(
    stack: Stack, props: ModelRoleProps, key: kms.IKey, artifacts: s3.IBucket
) -> List[iam.PolicyStatement]:
    statements = [
        # Every model the pipeline wrote, not only the current one: during a blue/green
        # update or after a rollback, the old fleet downloads its own (previous) artifact.
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(MODELS_PREFIX + "*")]),
        iam.PolicyStatement(actions=["kms:Decrypt", "kms:DescribeKey"], resources=[key.key_arn]),
        log_group_statement(stack, endpoint_log_group(props.endpoint_name)),
        metrics_statement("/aws/sagemaker/*"),
        *ecr_pull_statements([props.image_uri], stack.partition),
    ]
    # `headlines batch`: a Batch Transform job on this Model runs as this role; it lists and reads
    # its input under batch/input/ and writes the answers under batch/output/ (SSE-KMS).
    statements += [
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts.bucket_arn],
                            conditions={"StringLike": {"s3:prefix": [BATCH_INPUT_PREFIX + "*"]}}),
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(BATCH_INPUT_PREFIX + "*")]),
        iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                            resources=[artifacts.arn_for_objects(BATCH_OUTPUT_PREFIX + "*")]),
        iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[key.key_arn]),
    ]
    if props.data_capture:
        statements.append(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects(DATA_CAPTURE_PREFIX + "*")]))
    if props.volume_key:
        statements.append(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
    return statements


class ModelRole(iam.Role):
    """Reads the approved model artifacts, pulls the MXNet inference image, writes its logs; runs
    the Batch Transform jobs on the model (``headlines batch``): reads batch/input/, writes batch/output/."""

    def __init__(
        self, scope: Construct, construct_id: str, *, props: ModelRoleProps, key: kms.IKey, artifacts: s3.IBucket
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"{props.resource_prefix} endpoint: read the approved model artifacts, pull the MXNet inference image",
        )
        for statement in model_role_statements(Stack.of(self), props, key, artifacts):
            self.add_to_principal_policy(statement)
        endpoint_name = props.endpoint_name
        nag.allow_wildcards(
            self,
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + MODELS_PREFIX + r"\*", "The endpoint reads the model artifacts under models/ of the artifacts bucket (the current and previous models: blue/green, rollback)."),
            (nag.log_streams_of(endpoint_log_group(endpoint_name)), "The model container writes log streams of its own endpoint's log group only."),
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + DATA_CAPTURE_PREFIX + r"\*", "Data capture writes objects under datacapture/ of the artifacts bucket only."),
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + BATCH_INPUT_PREFIX + r"\*", "Batch transform jobs on this model read their input under batch/input/ of the artifacts bucket only."),
            ("Resource::arn:" + nag.PARTITION + r":s3:::[^/]+/" + BATCH_OUTPUT_PREFIX + r"\*", "Batch transform jobs on this model write their answers under batch/output/ of the artifacts bucket only."),
            (r"Resource::\*", "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; PutMetricData is limited by a namespace condition."),
        )


@dataclass(frozen=True)
class ServedModelProps:
    image_uri: str
    model_data_url: str  # a deploy-time value (the approved model's SSM parameter)
    # inference.py's request limits: the API's own (cdk.json headlines.api)
    max_batch_size: int
    max_headline_chars: int
    network_isolation: bool = True  # serverless endpoints do not support it


class ServedModel(sagemaker.CfnModel):
    def __init__(self, scope: Construct, construct_id: str, *, props: ServedModelProps, role: iam.Role) -> None:
        super().__init__(
            scope,
            construct_id,
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=props.image_uri,
                model_data_url=props.model_data_url,
                environment={
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_REGION": Stack.of(scope).region,
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "HEADLINES_MAX_BATCH": str(props.max_batch_size),
                    "HEADLINES_MAX_CHARS": str(props.max_headline_chars),
                },
            ),
            enable_network_isolation=True if props.network_isolation else None,
        )
        # The role's policy must exist before SageMaker reads the model (the role itself is a GetAtt).
        self.node.add_dependency(role.node.find_child("DefaultPolicy"))
