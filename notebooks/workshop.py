"""What the three notebooks share: where the project and its work directory are, whether an AWS
account is configured (else the local stand-ins), and the few AWS steps they run.

The notebooks import it from their own folder (Jupyter starts kernels in the notebook's folder).
"""
from __future__ import annotations

import os
import tarfile
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from headlines.config import load_config
from headlines.hyperparameters import blazingtext_hyperparameters
from headlines.instance_types import accepts_volume_kms_key
from headlines.naming import training_job_prefix
from headlines.project import ROOT as REPO_ROOT

# rich's progress bars work in notebooks without ipywidgets (as plain text); the warning would be noise.
warnings.filterwarnings("ignore", message='install "ipywidgets"')
# train.py prints one line per epoch of each member; the local pipeline echoes them.

# The workshop's seed network as published (bench/quality.py compares it the same way).
SEED_BASELINE = {"model": "seed", "ensemble": 1, "epochs": 4, "patience": 4, "class_weighting": "none",
                 "learning_rate": 0.001}
CSV_HEADER = ("ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP")


def workdir(value: Optional[str] = None) -> Path:
    """The notebook's work directory; by default the one ``make up`` and the CLI use."""
    if value:
        return Path(value).resolve()
    return Path(os.environ.get("HEADLINES_WORKDIR") or REPO_ROOT / ".headlines").resolve()


def show(figure) -> None:
    """Shows a figure of ``headlines.analysis.report`` (drawn without pyplot) as a PNG in the notebook."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    display(Image(data=buffer.getvalue(), format="png"))


def side_workdir(work: Path, name: str) -> Path:
    """A work directory beside the main one for an extra model (its current model must not
    replace the one ``headlines serve`` serves), sharing the main one's cached word vectors."""
    side = work / "notebooks" / name
    side.mkdir(parents=True, exist_ok=True)
    (work / "embeddings").mkdir(parents=True, exist_ok=True)
    if not (side / "embeddings").exists():
        (side / "embeddings").symlink_to((work / "embeddings").resolve(), target_is_directory=True)
    return side


def write_csv_with_header(rows, path: Path) -> Path:
    """Rows in the other distribution of the dataset: comma-separated, quoted, with a header."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for number, row in enumerate(rows, start=1):
            writer.writerow((number, row.title, "", "", row.label, row.story, "", ""))
    return path


@dataclass
class Aws:
    """A configured AWS account with the pipeline stack deployed: a boto3 session and the stack outputs."""

    session: Any
    region: str
    pipeline_stack: str
    outputs: Dict[str, str]

    def client(self, name: str):
        return self.session.client(name)

    def serving_outputs(self) -> Dict[str, str]:
        from headlines.cli.pipeline import serving_stack_for

        return stack_outputs(self.session, serving_stack_for(self.pipeline_stack)) or {}


def stack_outputs(session: Any, stack: str) -> Optional[Dict[str, str]]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError):
        return None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs") or []}


def connect(use_aws: Any = "auto") -> Optional[Aws]:
    """The AWS account when ``use_aws`` is True, or "auto" and one is configured with the
    pipeline deployed; None (and one line saying why) for the local stand-ins."""
    if use_aws is False or str(use_aws).lower() in ("false", "no", "0", "local"):
        print("AWS: not used (use_aws=False): running against the local stand-ins "
              "(local pipeline, gensim for BlazingText, local endpoint server and API)")
        return None
    import boto3

    from headlines.cli.pipeline import default_stack

    session = boto3.session.Session()
    reason = None
    if session.get_credentials() is None:
        reason = "no AWS credentials configured"
    elif not session.region_name:
        reason = "no AWS region configured (AWS_REGION)"
    stack = default_stack()
    outputs = stack_outputs(session, stack) if reason is None else None
    if reason is None and outputs is None:
        reason = f"stack {stack} is not deployed in {session.region_name}"
    if reason is not None:
        if use_aws is True:
            raise RuntimeError(f"use_aws=True but {reason}")
        print(f"AWS: {reason}: running against the local stand-ins "
              "(local pipeline, gensim for BlazingText, local endpoint server and API)")
        return None
    print(f"AWS: account configured, region {session.region_name}, stack {stack}")
    return Aws(session, session.region_name, stack, outputs)


# --- AWS steps ------------------------------------------------------------------------------------
def download(aws: Aws, s3_uri: str, target: Path) -> Path:
    bucket, _, key = s3_uri[len("s3://"):].partition("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    aws.client("s3").download_file(bucket, key, str(partial))
    partial.replace(target)
    return target


def wait_for_training_job(aws: Aws, name: str, poll_seconds: float = 30.0) -> Dict[str, Any]:
    sagemaker = aws.client("sagemaker")
    last = None
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        status = job.get("SecondaryStatus") or job["TrainingJobStatus"]
        if status != last:
            print(f"{time.strftime('%H:%M:%S')} {name}: {status}", flush=True)
            last = status
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            if job["TrainingJobStatus"] != "Completed":
                raise RuntimeError(f"{name}: {job['TrainingJobStatus']}: {job.get('FailureReason', '')}")
            return job
        time.sleep(poll_seconds)


def blazingtext_vectors(aws: Aws, output_dir: Path, training_role_arn: Optional[str] = None,
                        corpus_s3_uri: Optional[str] = None, job_name: Optional[str] = None,
                        poll_seconds: float = 30.0) -> Path:
    """Trains word2vec with SageMaker BlazingText on the corpus the pipeline ingested and
    downloads its vectors.txt (the same layout the local stand-in writes)."""
    from sagemaker.core import image_uris

    config = load_config()
    outputs = aws.outputs
    role = training_role_arn or outputs.get("TrainingRoleArn")
    if not role:
        raise RuntimeError("set training_role_arn (the pipeline's SageMaker training role) to train on SageMaker")
    data_bucket = outputs["DataBucketName"]
    corpus = corpus_s3_uri or f"s3://{data_bucket}/raw/corpus/text/text8"  # where the ingest step unpacks text8
    # Named like the stage's own jobs: the notebook role may run only those (infra/notebook_role.py).
    name = job_name or f"{training_job_prefix(config)}-notebook-emb-{time.strftime('%Y%m%d-%H%M%S')}"
    hyperparameters = blazingtext_hyperparameters(config)
    resources = {"InstanceType": config.embeddings.instance_type, "InstanceCount": 1,
                 "VolumeSizeInGB": config.embeddings.volume_size_gb}
    if accepts_volume_kms_key(config.embeddings.instance_type):  # not on types with local storage
        resources["VolumeKmsKeyId"] = outputs["KeyArn"]
    aws.client("sagemaker").create_training_job(
        TrainingJobName=name, RoleArn=role, HyperParameters=hyperparameters,
        AlgorithmSpecification={"TrainingImage": image_uris.retrieve("blazingtext", aws.region),
                                "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/plain", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": corpus, "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{data_bucket}/scratch/embeddings/", "KmsKeyId": outputs["KeyArn"]},
        ResourceConfig=resources,
        StoppingCondition={"MaxRuntimeInSeconds": config.embeddings.max_runtime_seconds},
        Tags=[{"Key": "project", "Value": config.project_name}, {"Key": "stage", "Value": config.stage}])
    job = wait_for_training_job(aws, name, poll_seconds)
    with tempfile.TemporaryDirectory() as scratch:
        archive = download(aws, job["ModelArtifacts"]["S3ModelArtifacts"], Path(scratch) / "model.tar.gz")
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if Path(m.name).name == "vectors.txt")
            output_dir.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, (output_dir / "vectors.txt.partial").open("wb") as target:
                target.write(source.read())
            (output_dir / "vectors.txt.partial").replace(output_dir / "vectors.txt")
    return output_dir


# --- live results (notebook 04) -------------------------------------------------------------------
def athena_rows(aws: Aws, sql: str, poll_seconds: float = 1.0, timeout_seconds: float = 300.0):
    """Runs ``sql`` in the results' Athena workgroup (its enforced, encrypted result location and
    bytes-scanned cutoff) on the results database; (column names, rows as strings)."""
    athena = aws.client("athena")
    execution = athena.start_query_execution(
        QueryString=sql, WorkGroup=aws.outputs["ResultsWorkGroup"],
        QueryExecutionContext={"Database": aws.outputs["ResultsDatabase"]})["QueryExecutionId"]
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in ("FAILED", "CANCELLED") or time.monotonic() > deadline:
            raise RuntimeError(f"Athena query {status['State'].lower()}: {status.get('StateChangeReason', 'timed out')}")
        time.sleep(poll_seconds)
    rows = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution):
        rows.extend([cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"])
    return (rows[0], rows[1:]) if rows else ([], [])
