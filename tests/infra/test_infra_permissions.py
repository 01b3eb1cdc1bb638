"""Every AWS call the project's code makes at run time, and the IAM statement that allows it.

moto enforces no IAM, so the deploy rehearsal cannot find a missing permission; this test does,
on the synthesized templates. Each row of ``CALLS`` is one API call (service and operation
named as in botocore's service models, checked against them) made by one principal (the
role's logical-id prefix), on one resource, with the request context IAM sees (condition
keys). The IAM action is the service's signing name plus the operation, except where S3
authorizes an operation under another action (``S3_ACTIONS``). A row passes when an Allow
statement of that role's policies matches action, resource and every condition.

S3's 404-versus-403 rule is a row of its own: HeadObject on a missing key answers 404 only to
a caller allowed ``s3:ListBucket`` on the bucket, and a HeadObject request carries no
``s3:prefix``, so a prefix-conditioned ListBucket does not count.

Then parliament (an IAM policy linter, pinned in pyproject.toml's dev extra) reviews every
synthesized policy.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional

import botocore.session
import pytest

pytestmark = pytest.mark.xdist_group("infra")

ACCOUNT, REGION = "123456789012", "us-east-1"

# S3 operations authorized under another action name (AWS's "Amazon S3 API operations and
# permissions" table); the rest are s3:<Operation>.
S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}


# Signing names that differ from the IAM service prefix.
IAM_PREFIXES = {"monitoring": "cloudwatch"}


@dataclass
class Call:
    who: str  # role logical-id prefix
    caller: str  # the code that makes the call
    service: str  # botocore service name
    operation: str  # botocore operation name
    resource: str  # in resolve()'s notation: <Logical> for a Ref, <Logical.Attr> for a GetAtt
    context: Dict[str, str] = field(default_factory=dict)
    action: Optional[str] = None  # when authorized under another action than the operation's

    def iam_action(self) -> str:
        if self.action:
            return self.action
        if self.service == "s3" and self.operation in S3_ACTIONS:
            return S3_ACTIONS[self.operation]
        model = botocore.session.get_session().get_service_model(self.service)
        return f"{IAM_PREFIXES.get(model.signing_name, model.signing_name)}:{self.operation}"


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


DATA, ARTIFACTS = "arn:aws:s3:::<StorageData>", "arn:aws:s3:::<StorageArtifacts>"
IMPORTED_ARTIFACTS = "arn:aws:s3:::<import:HeadlinesPipeline-ArtifactsBucketName>"
KEY, IMPORTED_KEY = "<StorageKey.Arn>", "<import:HeadlinesPipeline-KeyArn>"
NEWS = DATA + "/raw/news/NewsAggregatorDataset.zip"
MODEL = ARTIFACTS + "/models/headlines-dev-clf-run1/output/model.tar.gz"
TRAINING_JOB = _arn("sagemaker", "training-job/headlines-dev-clf-run1")
PROD_TRAINING_JOB = _arn("sagemaker", "training-job/headlines-prod-clf-run1")
STATE_MACHINE = _arn("states", "stateMachine:headlines-dev-pipeline")
EXECUTION = _arn("states", "execution:headlines-dev-pipeline:run1")
STACK = _arn("cloudformation", "stack/HeadlinesPipeline/0a1b2c3d")
RESULTS = "arn:aws:s3:::<ResultsBucket>"
IMPORTED_RESULTS = "arn:aws:s3:::<import:HeadlinesPipeline-ResultsBucketName>"
RESULTS_STREAM = "<import:HeadlinesPipeline-ResultsStreamArn>"
RESULTS_TABLE = _arn("glue", "table/headlines_dev_results/results")
RESULTS_DATABASE = _arn("glue", "database/headlines_dev_results")
GLUE_CATALOG = _arn("glue", "catalog")
WORKGROUP = _arn("athena", "workgroup/headlines-dev-results")
STACK_ID = _arn("cloudformation", "stack/HeadlinesPipeline/0a1b2c3d-0000-4000-8000-000000000000")
GROUP = "headlines-dev-models-0a1b2c3d"  # infra/registry.py: <prefix>-<first piece of the stack's uuid>
PACKAGE = _arn("sagemaker", f"model-package/{GROUP}/3")
SERVING_PARAMETER = _arn("ssm", "parameter/headlines/dev/model/serving")
APPROVED_PARAMETER = _arn("ssm", "parameter/headlines/dev/model/approved")

CALLS: List[Call] = [
    # functions/ingest/ingest.py (S3Store: head_object, upload_fileobj, copy_object, download_file)
    Call("PipelineIngestRole", "ingest: is the dataset there?", "s3", "HeadObject", NEWS),
    Call("PipelineIngestRole", "ingest: 404 (not 403) for a missing key", "s3", "HeadObject", DATA, action="s3:ListBucket"),
    Call("PipelineIngestRole", "ingest: upload (multipart)", "s3", "CreateMultipartUpload", NEWS),
    Call("PipelineIngestRole", "ingest: upload (multipart)", "s3", "UploadPart", NEWS),
    Call("PipelineIngestRole", "ingest: upload (multipart)", "s3", "CompleteMultipartUpload", NEWS),
    Call("PipelineIngestRole", "ingest: upload aborted", "s3", "AbortMultipartUpload", NEWS),
    Call("PipelineIngestRole", "ingest: upload (small)", "s3", "PutObject", NEWS),
    Call("PipelineIngestRole", "ingest: record sha256 (copy source)", "s3", "CopyObject", NEWS, action="s3:GetObject"),
    Call("PipelineIngestRole", "ingest: record sha256 (copy target)", "s3", "CopyObject", NEWS, action="s3:PutObject"),
    Call("PipelineIngestRole", "ingest: unpack the zip", "s3", "GetObject", NEWS),
    Call("PipelineIngestRole", "ingest: SSE-KMS write", "kms", "GenerateDataKey", KEY),
    Call("PipelineIngestRole", "ingest: SSE-KMS read", "kms", "Decrypt", KEY),
    Call("PipelineIngestRole", "ingest: logs", "logs", "PutLogEvents", "<PipelineIngestLogs.Arn>"),
    # functions/model_identity/model_identity.py
    Call("PipelineModelIdentityRole", "model identity: read the artifact", "s3", "GetObject", MODEL),
    Call("PipelineModelIdentityRole", "model identity: SSE-KMS read", "kms", "Decrypt", KEY),
    Call("PipelineModelIdentityRole", "model identity: metrics.json beside the artifact", "s3", "PutObject",
         ARTIFACTS + "/models/headlines-dev-clf-run1/output/metrics.json"),
    Call("PipelineModelIdentityRole", "model identity: SSE-KMS write", "kms", "GenerateDataKey", KEY),
    # functions/model_approval/model_approval.py (the registry's approval rule)
    Call("PipelineRegistryApprovalRole", "approval: the approved packages", "sagemaker", "ListModelPackages", "*"),
    Call("PipelineRegistryApprovalRole", "approval: their metadata", "sagemaker", "DescribeModelPackage", PACKAGE),
    Call("PipelineRegistryApprovalRole", "approval: the serving pointer", "ssm", "PutParameter", SERVING_PARAMETER),
    Call("PipelineRegistryApprovalRole", "approval: the approval record", "ssm", "PutParameter", APPROVED_PARAMETER),
    # state machine tasks (infra/pipeline.py and the steps it chains)
    Call("PipelineStateMachineRole", "task Ingest datasets", "lambda", "Invoke", "<PipelineIngestFunction.Arn>", action="lambda:InvokeFunction"),
    Call("PipelineStateMachineRole", "task Read model version", "lambda", "Invoke", "<PipelineModelIdentityFunction.Arn>", action="lambda:InvokeFunction"),
    Call("PipelineStateMachineRole", "tasks Train embeddings/classifier", "sagemaker", "CreateTrainingJob", TRAINING_JOB),
    Call("PipelineStateMachineRole", "tasks Train (.sync polling)", "sagemaker", "DescribeTrainingJob", TRAINING_JOB),
    Call("PipelineStateMachineRole", "tasks Train (job role)", "sagemaker", "CreateTrainingJob", "<TrainingRole.Arn>",
         {"iam:PassedToService": "sagemaker.amazonaws.com"}, action="iam:PassRole"),
    Call("PipelineStateMachineRole", "task Point serving at the model", "ssm", "PutParameter", SERVING_PARAMETER),
    Call("PipelineStateMachineRole", "task Publish approved model", "ssm", "PutParameter", APPROVED_PARAMETER),
    Call("PipelineStateMachineRole", "task Find champion", "ssm", "GetParameter", SERVING_PARAMETER),
    Call("PipelineStateMachineRole", "task Register model", "sagemaker", "CreateModelPackage", PACKAGE),
    Call("PipelineStateMachineRole", "task Register model (its group)", "sagemaker", "CreateModelPackage",
         _arn("sagemaker", f"model-package-group/{GROUP}")),
    # the training jobs (SageMaker, as the training role)
    Call("TrainingRole", "S3Prefix channel listing", "s3", "ListObjectsV2", DATA, {"s3:prefix": "raw/news/"}),
    Call("TrainingRole", "channel download", "s3", "GetObject", NEWS),
    Call("TrainingRole", "model upload", "s3", "PutObject", MODEL),
    Call("TrainingRole", "champion channel", "s3", "GetObject", ARTIFACTS + "/models/headlines-dev-clf-run0/output/model.tar.gz"),
    Call("TrainingRole", "champion channel listing", "s3", "ListObjectsV2", ARTIFACTS,
         {"s3:prefix": "models/headlines-dev-clf-run0/output/model.tar.gz"}),
    Call("TrainingRole", "embeddings channel", "s3", "GetObject", ARTIFACTS + "/embeddings/headlines-emb-run1/output/model.tar.gz"),
    Call("TrainingRole", "encrypted output", "kms", "GenerateDataKey", KEY),
    Call("TrainingRole", "encrypted volume", "kms", "CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}),
    Call("TrainingRole", "container logs", "logs", "PutLogEvents", _arn("logs", "log-group:/aws/sagemaker/TrainingJobs:log-stream:headlines-dev-clf-run1/algo-1")),
    Call("TrainingRole", "metrics", "cloudwatch", "PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}),
    Call("TrainingRole", "image pull", "ecr", "GetAuthorizationToken", "*"),
    # the endpoint (SageMaker, as the model role): the current and the previous model
    Call("ServingRole", "model download (current)", "s3", "GetObject", IMPORTED_ARTIFACTS + "/models/headlines-clf-run2/output/model.tar.gz"),
    Call("ServingRole", "model download (previous: rollback)", "s3", "GetObject", IMPORTED_ARTIFACTS + "/models/headlines-clf-run1/output/model.tar.gz"),
    Call("ServingRole", "encrypted artifact", "kms", "Decrypt", IMPORTED_KEY),
    Call("ServingRole", "container logs", "logs", "PutLogEvents", _arn("logs", "log-group:/aws/sagemaker/Endpoints/headlines-dev:log-stream:AllTraffic/i-1")),
    # headlines batch: a transform job on the served Model runs as the model role (headlines/cli/batch.py)
    Call("ServingRole", "transform: list the input prefix", "s3", "ListObjectsV2", IMPORTED_ARTIFACTS, {"s3:prefix": "batch/input/news/"}),
    Call("ServingRole", "transform: read the input", "s3", "GetObject", IMPORTED_ARTIFACTS + "/batch/input/news/headlines.txt"),
    Call("ServingRole", "transform: write the answers", "s3", "PutObject", IMPORTED_ARTIFACTS + "/batch/output/run1/headlines.txt.out"),
    Call("ServingRole", "transform: write the answers (multipart)", "s3", "CompleteMultipartUpload", IMPORTED_ARTIFACTS + "/batch/output/run1/headlines.txt.out"),
    Call("ServingRole", "transform: SSE-KMS write", "kms", "GenerateDataKey", IMPORTED_KEY),
    Call("ServingRole", "transform: SSE-KMS read", "kms", "Decrypt", IMPORTED_KEY),
    # functions/api/app.py
    Call("ApiHandlerRole", "POST /v1/classify", "sagemaker-runtime", "InvokeEndpoint", "<ServingEndpoint>"),
    Call("ApiHandlerRole", "GET /v1/health", "sagemaker", "DescribeEndpoint", "<ServingEndpoint>"),
    Call("ApiHandlerRole", "results_sink.py: the answer's records", "firehose", "PutRecordBatch", RESULTS_STREAM),
    # Firehose delivering result records as Parquet (infra/results_store.py), as its role
    Call("ResultsStreamRole", "delivery: Parquet objects", "s3", "PutObject", RESULTS + "/records/2026/12/07/06/headlines-dev-results-1.parquet"),
    Call("ResultsStreamRole", "delivery: multipart", "s3", "CreateMultipartUpload", RESULTS + "/records/2026/12/07/06/part"),
    Call("ResultsStreamRole", "delivery: aborted multipart", "s3", "AbortMultipartUpload", RESULTS + "/records/2026/12/07/06/part"),
    Call("ResultsStreamRole", "delivery: records it could not convert", "s3", "PutObject", RESULTS + "/errors/format-conversion-failed/2026/12/07/06/x"),
    Call("ResultsStreamRole", "delivery: the bucket's region", "s3", "GetBucketLocation", RESULTS),
    Call("ResultsStreamRole", "delivery: listing", "s3", "ListObjectsV2", RESULTS),
    Call("ResultsStreamRole", "delivery: SSE-KMS", "kms", "GenerateDataKey", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}),
    Call("ResultsStreamRole", "format conversion: the table (catalog)", "glue", "GetTable", GLUE_CATALOG),
    Call("ResultsStreamRole", "format conversion: the table (database)", "glue", "GetTable", RESULTS_DATABASE),
    Call("ResultsStreamRole", "format conversion: the table", "glue", "GetTable", RESULTS_TABLE),
    Call("ResultsStreamRole", "format conversion: its versions", "glue", "GetTableVersions", RESULTS_TABLE),
    Call("ResultsStreamRole", "format conversion: a version", "glue", "GetTableVersion", RESULTS_TABLE),
    Call("ResultsStreamRole", "error logging", "logs", "PutLogEvents", _arn("logs", "log-group:<ResultsStreamLogs>:log-stream:S3Delivery")),
    # functions/api/drift_handler.py (Athena runs the query with the caller's permissions)
    Call("DriftFunctionRole", "drift: the query", "athena", "StartQueryExecution", WORKGROUP),
    Call("DriftFunctionRole", "drift: wait for it", "athena", "GetQueryExecution", WORKGROUP),
    Call("DriftFunctionRole", "drift: its rows", "athena", "GetQueryResults", WORKGROUP),
    Call("DriftFunctionRole", "drift: stop a late query", "athena", "StopQueryExecution", WORKGROUP),
    Call("DriftFunctionRole", "Athena: the table (catalog)", "glue", "GetTable", GLUE_CATALOG),
    Call("DriftFunctionRole", "Athena: the table (database)", "glue", "GetTable", RESULTS_DATABASE),
    Call("DriftFunctionRole", "Athena: the table", "glue", "GetTable", RESULTS_TABLE),
    Call("DriftFunctionRole", "Athena: the database", "glue", "GetDatabase", RESULTS_DATABASE),
    Call("DriftFunctionRole", "Athena: list the projected partitions", "s3", "ListObjectsV2", IMPORTED_RESULTS, {"s3:prefix": "records/2026/12/07/06/"}),
    Call("DriftFunctionRole", "Athena: the bucket's region", "s3", "GetBucketLocation", IMPORTED_RESULTS),
    Call("DriftFunctionRole", "Athena: read the records", "s3", "GetObject", IMPORTED_RESULTS + "/records/2026/12/07/06/x.parquet"),
    Call("DriftFunctionRole", "Athena: write the results", "s3", "PutObject", IMPORTED_RESULTS + "/athena/q1.csv"),
    Call("DriftFunctionRole", "Athena: read the results", "s3", "GetObject", IMPORTED_RESULTS + "/athena/q1.csv"),
    Call("DriftFunctionRole", "SSE-KMS results", "kms", "GenerateDataKey", IMPORTED_KEY),
    Call("DriftFunctionRole", "SSE-KMS records", "kms", "Decrypt", IMPORTED_KEY),
    Call("DriftFunctionRole", "the baseline: metrics.json in the artifact", "s3", "GetObject", IMPORTED_ARTIFACTS + "/models/headlines-clf-run2/output/model.tar.gz"),
    # the notebook: auto-stop, headlines pipeline start/status (headlines/cli/pipeline.py), its own work
    Call("NotebookRole", "auto-stop", "sagemaker", "StopNotebookInstance", _arn("sagemaker", "notebook-instance/headlines-dev-notebook")),
    Call("NotebookRole", "pipeline CLI: find the state machine", "cloudformation", "DescribeStacks", STACK),
    Call("NotebookRole", "pipeline CLI: start", "stepfunctions", "StartExecution", STATE_MACHINE),
    Call("NotebookRole", "pipeline CLI: status", "stepfunctions", "ListExecutions", STATE_MACHINE),
    Call("NotebookRole", "pipeline CLI: follow", "stepfunctions", "DescribeExecution", EXECUTION),
    Call("NotebookRole", "pipeline CLI: follow", "stepfunctions", "GetExecutionHistory", EXECUTION),
    Call("NotebookRole", "pipeline CLI: job status", "sagemaker", "DescribeTrainingJob", TRAINING_JOB),
    Call("NotebookRole", "notebook: launch a training job", "sagemaker", "CreateTrainingJob", TRAINING_JOB),
    Call("NotebookRole", "notebook: with the training role", "sagemaker", "CreateTrainingJob", "<TrainingRole.Arn>",
         {"iam:PassedToService": "sagemaker.amazonaws.com"}, action="iam:PassRole"),
    Call("NotebookRole", "notebook: the approved model", "ssm", "GetParameter", _arn("ssm", "parameter/headlines/dev/model/approved")),
    Call("NotebookRole", "model list --aws: the group", "sagemaker", "DescribeModelPackageGroup",
         _arn("sagemaker", f"model-package-group/{GROUP}")),
    Call("NotebookRole", "model list --aws", "sagemaker", "ListModelPackages", "*"),
    Call("NotebookRole", "model show --aws", "sagemaker", "DescribeModelPackage", PACKAGE),
    Call("NotebookRole", "notebook: scratch space", "s3", "PutObject", DATA + "/scratch/exp1/train.csv"),
    Call("NotebookRole", "notebook: read data", "s3", "GetObject", NEWS),
    Call("NotebookRole", "notebook: call the model", "sagemaker-runtime", "InvokeEndpoint", _arn("sagemaker", "endpoint/headlines-dev")),
    Call("NotebookRole", "batch CLI: upload the input", "s3", "PutObject", ARTIFACTS + "/batch/input/news/headlines.txt"),
    Call("NotebookRole", "batch CLI: is the input there?", "s3", "ListObjectsV2", ARTIFACTS, {"s3:prefix": "batch/input/news/"}),
    Call("NotebookRole", "batch CLI: the approved model", "ssm", "GetParameter", _arn("ssm", "parameter/headlines/dev/model/serving")),
    Call("NotebookRole", "batch CLI: the served Model", "cloudformation", "DescribeStacks", _arn("cloudformation", "stack/HeadlinesServing/0a1b2c3d")),
    Call("NotebookRole", "batch CLI: start", "sagemaker", "CreateTransformJob", _arn("sagemaker", "transform-job/headlines-dev-batch-20260101-000000")),
    Call("NotebookRole", "batch CLI: follow", "sagemaker", "DescribeTransformJob", _arn("sagemaker", "transform-job/headlines-dev-batch-20260101-000000")),
    Call("NotebookRole", "batch: read the answers", "s3", "GetObject", ARTIFACTS + "/batch/output/run1/headlines.txt.out"),
    Call("NotebookRole", "notebook: follow a job's logs", "logs", "GetLogEvents",
         _arn("logs", "log-group:/aws/sagemaker/TrainingJobs:log-stream:headlines-dev-notebook-emb-1/algo-1-1")),
    Call("NotebookRole", "lifecycle: its logs", "logs", "PutLogEvents",
         _arn("logs", "log-group:/aws/sagemaker/NotebookInstances:log-stream:headlines-dev-notebook/LifecycleConfigOnStart")),
    # notebook 04 (notebooks/workshop.py athena_rows): the dashboard's queries in Athena
    Call("NotebookRole", "notebook 04: a named query's SQL", "athena", "StartQueryExecution", WORKGROUP),
    Call("NotebookRole", "notebook 04: wait", "athena", "GetQueryExecution", WORKGROUP),
    Call("NotebookRole", "notebook 04: the rows", "athena", "GetQueryResults", WORKGROUP),
    Call("NotebookRole", "Athena: the table", "glue", "GetTable", RESULTS_TABLE),
    Call("NotebookRole", "Athena: read the records", "s3", "GetObject", RESULTS + "/records/2026/12/07/06/x.parquet"),
    Call("NotebookRole", "Athena: write the results", "s3", "PutObject", RESULTS + "/athena/q1.csv"),
    Call("NotebookRole", "Athena: SSE-KMS results", "kms", "GenerateDataKey", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}),
    # CDK's LogRetention function (infra/service_logs.py): the service log groups' retention
    Call("LogRetention", "retention of the training jobs' group", "logs", "PutRetentionPolicy",
         _arn("logs", "log-group:/aws/sagemaker/TrainingJobs")),
]

# functions/api/feed_handler.py, synthesized with feeds configured (the with_feeds fixture)
FEED_CALLS: List[Call] = [
    Call("FeedsFunctionRole", "feeds: classify new items", "sagemaker-runtime", "InvokeEndpoint", "<ServingEndpoint>"),
    Call("FeedsFunctionRole", "feeds: record them", "firehose", "PutRecordBatch", RESULTS_STREAM),
    Call("FeedsFunctionRole", "feed_seen.py: claim an item", "dynamodb", "PutItem", "<FeedsSeen.Arn>"),
    Call("FeedsFunctionRole", "feed_seen.py: release an item", "dynamodb", "DeleteItem", "<FeedsSeen.Arn>"),
]

# Calls that must be denied (least privilege has teeth).
DENIED: List[Call] = [
    Call("NotebookRole", "pass any other role", "sagemaker", "CreateTrainingJob", "<ServingRole.Arn>",
         {"iam:PassedToService": "sagemaker.amazonaws.com"}, action="iam:PassRole"),
    Call("NotebookRole", "pass the training role to another service", "lambda", "CreateFunction", "<TrainingRole.Arn>",
         {"iam:PassedToService": "lambda.amazonaws.com"}, action="iam:PassRole"),
    Call("NotebookRole", "write the raw data", "s3", "PutObject", NEWS),
    # approving a model is its own permission: not the notebook's
    Call("NotebookRole", "model approve", "sagemaker", "UpdateModelPackage", PACKAGE),
    Call("PipelineRegistryApprovalRole", "approve (it only follows approvals)", "sagemaker", "UpdateModelPackage", PACKAGE),
    Call("NotebookRole", "prod's registry", "sagemaker", "DescribeModelPackage",
         _arn("sagemaker", "model-package/headlines-prod-models-0a1b2c3d/1")),
    Call("TrainingRole", "list outside its prefixes", "s3", "ListObjectsV2", DATA, {"s3:prefix": "other/"}),
    Call("ServingRole", "transform: read outside batch/input/ and models/", "s3", "GetObject", IMPORTED_ARTIFACTS + "/other/headlines.txt"),
    Call("ServingRole", "transform: list outside batch/input/", "s3", "ListObjectsV2", IMPORTED_ARTIFACTS, {"s3:prefix": "models/"}),
    Call("ServingRole", "transform: write over the models", "s3", "PutObject", IMPORTED_ARTIFACTS + "/models/headlines-clf-run1/output/model.tar.gz"),
    Call("NotebookRole", "write the batch answers", "s3", "PutObject", ARTIFACTS + "/batch/output/run1/headlines.txt.out"),
    Call("NotebookRole", "prod's transform jobs", "sagemaker", "CreateTransformJob", _arn("sagemaker", "transform-job/headlines-prod-batch-20260101-000000")),
    Call("TrainingRole", "HeadObject carries no s3:prefix", "s3", "HeadObject", DATA, action="s3:ListBucket"),
    Call("ApiHandlerRole", "another endpoint", "sagemaker-runtime", "InvokeEndpoint", _arn("sagemaker", "endpoint/other")),
    Call("ApiHandlerRole", "another stream", "firehose", "PutRecordBatch", _arn("firehose", "deliverystream/other")),
    Call("ResultsStreamRole", "outside its prefixes", "s3", "PutObject", RESULTS + "/athena/q1.csv"),
    Call("ResultsStreamRole", "the key outside S3", "kms", "GenerateDataKey", KEY),
    Call("DriftFunctionRole", "another workgroup", "athena", "StartQueryExecution", _arn("athena", "workgroup/primary")),
    Call("DriftFunctionRole", "write the records", "s3", "PutObject", IMPORTED_RESULTS + "/records/2026/12/07/06/x.parquet"),
    Call("NotebookRole", "delete the records", "s3", "DeleteObject", RESULTS + "/records/2026/12/07/06/x.parquet"),
    # a stage reaches its own training jobs only (their names start with <project>-<stage>)
    Call("PipelineStateMachineRole", "prod's jobs", "sagemaker", "StopTrainingJob", PROD_TRAINING_JOB),
    Call("NotebookRole", "prod's jobs", "sagemaker", "DescribeTrainingJob", PROD_TRAINING_JOB),
    Call("NotebookRole", "prod's job logs", "logs", "GetLogEvents",
         _arn("logs", "log-group:/aws/sagemaker/TrainingJobs:log-stream:headlines-prod-clf-run1/algo-1-1")),
    Call("TrainingRole", "prod's job logs", "logs", "PutLogEvents",
         _arn("logs", "log-group:/aws/sagemaker/TrainingJobs:log-stream:headlines-prod-clf-run1/algo-1")),
]


def resolve(node: Any, types: Mapping[str, str]) -> str:
    """A template value as a string: Ref -> <Logical>, GetAtt -> <Logical.Attr> (a bucket's Arn
    as arn:aws:s3:::<Logical>), ImportValue -> <import:Name>, pseudo parameters as literals.
    Logical ids lose their 8-character hash suffix."""
    def short(logical: str) -> str:
        return logical[:-8] if len(logical) > 8 and logical[-8:].isalnum() and logical[-8:].upper() == logical[-8:] else logical

    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        if "Ref" in node:
            return {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::StackId": STACK_ID,
                    "AWS::URLSuffix": "amazonaws.com"}.get(node["Ref"], f"<{short(node['Ref'])}>")
        if "Fn::Select" in node and "Fn::Split" in node["Fn::Select"][1]:
            index, (delimiter, source) = node["Fn::Select"][0], node["Fn::Select"][1]["Fn::Split"]
            return resolve(source, types).split(delimiter)[int(index)]
        if "Fn::GetAtt" in node:
            logical, attribute = node["Fn::GetAtt"]
            if types.get(logical) == "AWS::S3::Bucket" and attribute == "Arn":
                return f"arn:aws:s3:::<{short(logical)}>"
            return f"<{short(logical)}.{attribute}>"
        if "Fn::Join" in node:
            delimiter, parts = node["Fn::Join"]
            return delimiter.join(resolve(part, types) for part in parts)
        if "Fn::ImportValue" in node:
            return f"<import:{resolve(node['Fn::ImportValue'], types)}>"
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: resolve({"Ref": m.group(1)}, types), node["Fn::Sub"])
    raise ValueError(f"cannot resolve {node!r}")


def _as_list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(templates: Mapping[str, Dict[str, Any]], who: str) -> Iterator[Dict[str, Any]]:
    """The role's policy statements, with Resource resolved to strings."""
    for template in templates.values():
        resources = template["Resources"]
        types = {logical: r["Type"] for logical, r in resources.items()}
        for policy in resources.values():
            if policy["Type"] != "AWS::IAM::Policy":
                continue
            roles = [r.get("Ref", "") for r in policy["Properties"].get("Roles", [])]
            if not any(role.startswith(who) for role in roles):
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield {**statement, "Resource": [resolve(r, types) for r in _as_list(statement["Resource"])]}


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, pairs in conditions.items():
        for key, wanted in pairs.items():
            if key not in context:  # IAM: a condition on a key the request lacks does not match
                return False
            values = [str(v) for v in _as_list(wanted)]
            if operator == "StringLike" and not any(fnmatch.fnmatchcase(context[key], v) for v in values):
                return False
            if operator in ("StringEquals", "Bool") and context[key] not in values:
                return False
            if operator not in ("StringLike", "StringEquals", "Bool"):
                raise AssertionError(f"condition operator {operator} not modelled here")
    return True


def allowing(templates: Mapping[str, Dict[str, Any]], call: Call) -> List[Dict[str, Any]]:
    action = call.iam_action().lower()
    return [
        statement
        for statement in statements_of(templates, call.who)
        if statement["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, a.lower()) for a in _as_list(statement["Action"]))
        and any(fnmatch.fnmatchcase(call.resource, r) for r in statement["Resource"])
        and _conditions_hold(statement.get("Condition", {}), call.context)
    ]


@pytest.mark.parametrize("call", CALLS + FEED_CALLS + DENIED, ids=lambda c: f"{c.who}:{c.service}.{c.operation}:{c.caller}")
def test_operations_exist_in_botocore_service_models(call):
    model = botocore.session.get_session().get_service_model(call.service)
    assert call.operation in model.operation_names


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.who}:{c.iam_action()}:{c.caller}")
def test_every_runtime_call_is_allowed(dev, call):
    assert allowing(dev.templates, call), (
        f"{call.caller}: {call.iam_action()} on {call.resource} with {call.context or 'no condition keys'} "
        f"is allowed by no statement of {call.who}*"
    )


@pytest.mark.parametrize("call", FEED_CALLS, ids=lambda c: f"{c.who}:{c.iam_action()}:{c.caller}")
def test_every_feed_reader_call_is_allowed(with_feeds, call):
    assert allowing(with_feeds.templates, call), f"{call.caller}: {call.iam_action()} on {call.resource} is allowed by no statement"


def test_the_feed_reader_role_is_covered_and_nothing_more(with_feeds):
    feed_actions = {statement_action for statement in statements_of(with_feeds.templates, "FeedsFunctionRole")
                    for statement_action in _as_list(statement["Action"])}
    assert feed_actions == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                            "sagemaker:InvokeEndpoint", "firehose:PutRecordBatch", "dynamodb:PutItem", "dynamodb:DeleteItem"}


@pytest.mark.parametrize("call", DENIED, ids=lambda c: f"{c.who}:{c.iam_action()}:{c.caller}")
def test_least_privilege_denies(dev, call):
    assert not allowing(dev.templates, call)


def test_every_role_of_the_app_is_covered(dev):
    """A new role with a policy must get its rows here."""
    covered = {call.who for call in CALLS}
    roles = [
        logical
        for template in dev.templates.values()
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy"
        for logical in [r["Ref"] for r in resource["Properties"]["Roles"]]
    ]
    assert all(any(role.startswith(prefix) for prefix in covered) for role in roles), roles


# ---- parliament --------------------------------------------------------------------------

# Findings reviewed and accepted, each with its reason (issue code, action or "*").
PARLIAMENT_ACCEPTED = {
    # CDK's LogRetention function (infra/service_logs.py) sets retention by group name; CDK
    # grants it on "*" (its singleton serves every group of the stack).
    ("RESOURCE_STAR", "logs:PutRetentionPolicy"): "CDK's LogRetention function, one per stack, for every group it manages",
    # parliament wants every resource type an action accepts; these name the one the CLI uses
    # (standard executions of this state machine, not express executions or map runs).
    ("RESOURCE_MISMATCH", "states:DescribeExecution"): "standard executions only (no express workflows here)",
    ("RESOURCE_MISMATCH", "states:ListExecutions"): "the state machine's executions, not distributed-map runs",
}


# What a Ref / GetAtt Arn of each resource type looks like once deployed (for parliament's ARN checks).
_ARN_FORMATS = {
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::SageMaker::Endpoint": "arn:aws:sagemaker:{region}:{account}:endpoint/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::S3::Bucket": "{name}",  # a bucket's Arn is already arn:aws:s3:::<Logical> (resolve)
}
_IMPORTS = {"KeyArn": "arn:aws:kms:{region}:{account}:key/imported", "ArtifactsBucketName": "imported-artifacts-bucket",
            "AlertsTopicArn": "arn:aws:sns:{region}:{account}:imported", "ResultsBucketName": "imported-results-bucket",
            "ResultsStreamArn": "arn:aws:firehose:{region}:{account}:deliverystream/imported"}


def _plausible(text: str, resources: Mapping[str, Dict[str, Any]]) -> str:
    """resolve()'s placeholders replaced by deployed-looking values."""
    def one(match: "re.Match[str]") -> str:
        inner = match.group(1)
        if inner.startswith("import:"):
            suffix = inner.rsplit("-", 1)[-1]
            return _IMPORTS.get(suffix, "imported").format(region=REGION, account=ACCOUNT)
        logical = inner.split(".")[0]
        kind = next((r["Type"] for k, r in resources.items() if k == logical or k[:-8] == logical), "")
        name = logical.lower()
        if "." not in inner and kind == "AWS::S3::Bucket" or text.startswith("arn:aws:s3:::<"):
            return name
        return _ARN_FORMATS.get(kind, "{name}").format(region=REGION, account=ACCOUNT, name=name)
    return re.sub(r"<([^>]+)>", one, text)


def _documents(templates: Mapping[str, Dict[str, Any]]) -> Iterator[tuple]:
    for stack, template in templates.items():
        types = {logical: r["Type"] for logical, r in template["Resources"].items()}
        for logical, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Policy":
                document = resource["Properties"]["PolicyDocument"]
            elif resource["Type"] in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::KMS::Key"):
                continue  # resource policies: parliament reviews identity policies
            else:
                continue
            statements = [
                {**s, "Resource": [_plausible(resolve(r, types), template["Resources"]) for r in _as_list(s["Resource"])]}
                for s in document["Statement"]
            ]
            yield f"{stack}/{logical}", {"Version": "2012-10-17", "Statement": statements}


def test_parliament_finds_nothing_unreviewed_in_any_policy(dev):
    from parliament import analyze_policy_string

    unreviewed, used = [], set()
    for name, document in _documents(dev.templates):
        policy = analyze_policy_string(json.dumps(document))
        for finding in policy.findings:
            detail = json.dumps(finding.detail, default=str)
            key = next((k for k in PARLIAMENT_ACCEPTED if k[0] == finding.issue and (k[1] == "*" or k[1] in detail)), None)
            if key is None:
                unreviewed.append(f"{name}: {finding.issue} {finding.severity} {detail}")
            else:
                used.add(key)
    assert unreviewed == []
    assert used == set(PARLIAMENT_ACCEPTED), "an accepted finding no longer occurs: drop it"
    assert sum(1 for _ in _documents(dev.templates)) >= 7
