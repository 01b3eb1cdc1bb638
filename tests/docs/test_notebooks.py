"""The notebooks under notebooks/: kept without outputs in git, and each runs top to bottom
offline, with a kernel of this environment, on tiny data (their parameters cell overridden the
way papermill does: a cell injected after the one tagged ``parameters``)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import nbformat
import pytest
from nbclient import NotebookClient

from headlines.project import ROOT as REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
NAMES = ("01-word-vectors.ipynb", "02-classifier.ipynb", "03-deployed-stack.ipynb", "04-live-results.ipynb")
# The figures the notebooks must draw (cells tagged figure-...), by notebook.
FIGURES = {
    "01-word-vectors.ipynb": {"figure-ws353", "figure-word-map"},
    "02-classifier.ipynb": {"figure-curves", "figure-confusion", "figure-per-class", "figure-seed-baseline"},
    "03-deployed-stack.ipynb": {"figure-compare"},
    "04-live-results.ipynb": {"figure-category-mix", "figure-confidence"},
}
CELL_TIMEOUT_S = 600


def test_every_notebook_is_listed():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=NOTEBOOKS, capture_output=True, text=True).stdout
    if tracked:  # in a git checkout: what git keeps (an executed copy lying around is not checked)
        assert sorted(Path(line).name for line in tracked.split()) == sorted(NAMES)
    assert set(NAMES) <= {path.name for path in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_kept_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip the outputs before committing"
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, f"{name}: one cell tagged 'parameters'"


def with_parameters(notebook, values: Dict[str, Any]):
    """papermill's convention: the overrides in a cell right after the one tagged 'parameters'."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, injected)
    return notebook


@pytest.fixture(scope="module")
def tiny_parameters(tiny_news, tiny_corpus, tmp_path_factory) -> Dict[str, Any]:
    # One work directory for the three, as for a person running them in order (vectors cached).
    return {"workdir": str(tmp_path_factory.mktemp("notebook-workdir")), "use_aws": False,
            "corpus": str(tiny_corpus), "data": str(tiny_news), "epochs": 2, "linear_epochs": 3,
            "map_words": 120}


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_and_draws_its_figures(name, tiny_parameters, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    declared = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])).source
    values = {key: value for key, value in tiny_parameters.items() if f"\n{key} =" in "\n" + declared}
    with_parameters(notebook, values)
    env_before = dict(os.environ)
    os.environ.update(MPLBACKEND="module://matplotlib_inline.backend_inline", AWS_EC2_METADATA_DISABLED="true")
    try:
        NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    drawn = {tag for cell in notebook.cells if cell.cell_type == "code"
             for tag in cell.metadata.get("tags", []) if tag.startswith("figure-")
             if any("image/png" in output.get("data", {}) for output in cell.outputs)}
    assert drawn == FIGURES[name]
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs if output.get("output_type") == "stream")
    if "use_aws" in values:  # with no AWS account it says what it runs against
        assert "running against the local stand-ins" in text
    (tmp_path / name).write_text(json.dumps(notebook))  # the executed copy, to read when a check fails


# --- notebooks/workshop.py: the AWS-or-local switch and the AWS steps (moto, botocore's models) ----
@pytest.fixture()
def workshop(monkeypatch):
    from headlines.file_modules import load_file_module

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return load_file_module("headlines_notebooks_workshop", NOTEBOOKS / "workshop.py")


@pytest.fixture()
def fake_account(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def test_without_an_account_the_notebooks_say_they_run_locally(workshop, capsys):
    assert workshop.connect("auto") is None
    assert "no AWS credentials configured: running against the local stand-ins" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="use_aws=True but no AWS credentials"):
        workshop.connect(True)


def pipeline_stack(outputs: Dict[str, str]) -> None:
    import boto3

    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    boto3.client("cloudformation").create_stack(StackName="HeadlinesPipeline", TemplateBody=json.dumps(template))


def test_an_account_without_the_stack_is_local_and_one_with_it_is_aws(workshop, fake_account, capsys):
    assert workshop.connect("auto") is None
    assert "stack HeadlinesPipeline is not deployed in us-east-1" in capsys.readouterr().out
    pipeline_stack({"DataBucketName": "data-bucket"})
    aws = workshop.connect("auto")
    assert aws.region == "us-east-1" and aws.outputs["DataBucketName"] == "data-bucket"


def test_blazingtext_job_on_sagemaker_and_its_vectors(workshop, fake_account, tmp_path):
    """The job request passes botocore's SageMaker model (moto runs it); its vectors.txt comes back."""
    import io
    import tarfile

    import boto3

    pipeline_stack({"DataBucketName": "data-bucket", "KeyArn": "arn:aws:kms:us-east-1:123456789012:key/k",
                    "TrainingRoleArn": "arn:aws:iam::123456789012:role/training"})
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data-bucket")
    vectors = b"2 3\nnews 0.1 0.2 0.3\nheadline 0.3 0.2 0.1\n"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        member = tarfile.TarInfo("vectors.txt")
        member.size = len(vectors)
        tar.addfile(member, io.BytesIO(vectors))
    s3.put_object(Bucket="data-bucket", Key="scratch/embeddings/emb-test/output/model.tar.gz", Body=archive.getvalue())
    aws = workshop.connect("auto")
    out = workshop.blazingtext_vectors(aws, tmp_path / "vectors", job_name="emb-test", poll_seconds=0)
    assert (out / "vectors.txt").read_bytes() == vectors
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName="emb-test")
    assert "blazingtext" in job["AlgorithmSpecification"]["TrainingImage"]
    assert job["RoleArn"].endswith("role/training")
    assert job["HyperParameters"]["mode"] == "batch_skipgram"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data-bucket/raw/corpus/text/text8"
