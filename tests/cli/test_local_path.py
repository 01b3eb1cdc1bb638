"""The whole local path, through the real command line: train -> serve -> classify."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from headlines.local.endpoint import free_port

pytestmark = pytest.mark.slow

CATEGORIES = {"business", "science_technology", "entertainment", "health"}
ARTIFACT_FILES = {"model-symbol.json", "model-0000.params", "vocab.json", "labels.json", "metrics.json",
                  "code/inference.py", "code/headline_text.py", "code/numpy_network.py"}


def headlines(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def post(url: str, body: bytes, content_type: str = "application/json"):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_artifact_has_the_contract_layout(tiny_training):
    with tarfile.open(tiny_training.artifact) as tar:
        names = {member.name for member in tar.getmembers() if member.isfile()}
    assert ARTIFACT_FILES <= names
    metrics = json.loads((tiny_training.model_dir / "metrics.json").read_text())
    assert 0.25 < metrics["accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1
    assert metrics["data"]["test_source"] == "held-out stories"
    # -H epochs=1 (the fixture's override) is every member's budget: linear members too.
    assert metrics["hyperparameters"]["epochs"] == metrics["hyperparameters"]["linear_epochs"] == 1


def test_local_training_job_is_laid_out_as_sagemaker_does(tiny_training, tmp_path):
    """The toolkit ran under a SAGEMAKER_BASE_DIR shaped like /opt/ml, from CDK's sourcedir."""
    from headlines.sourcedir import build_sourcedir

    base = tiny_training.artifact.parent.parent
    assert tiny_training.artifact == base / "output" / "model.tar.gz" and (base / "output" / "success").is_file()
    config = base / "input" / "config"
    hyperparameters = json.loads((config / "hyperparameters.json").read_text())
    assert all(isinstance(value, str) for value in hyperparameters.values())  # JSON-encoded, as Step Functions sends
    assert json.loads(hyperparameters["sagemaker_program"]) == "train.py"
    submitted = Path(json.loads(hyperparameters["sagemaker_submit_directory"]))
    assert submitted.read_bytes() == build_sourcedir(tmp_path / "sourcedir.tar.gz").read_bytes()
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train", "embeddings"}
    assert json.loads((config / "resourceconfig.json").read_text())["hosts"] == ["algo-1"]
    (embeddings,) = (base / "input" / "data" / "embeddings").iterdir()
    assert embeddings.name == "model.tar.gz"
    with tarfile.open(embeddings) as tar:
        assert sorted(tar.getnames()) == ["eval.json", "vectors.bin", "vectors.txt"]
    log = (base / "training.log").read_text()
    assert "Invoking script with the following command" in log and "train.py --batch_size" in log


@pytest.mark.parametrize("override, message", [
    ("epochz=1", "error: -H unknown hyperparameter 'epochz' (did you mean 'epochs'?)"),
    ("epoch=1", "error: -H unknown hyperparameter 'epoch' (did you mean 'epochs'?)"),
    ("epochs=abc", "error: -H epochs: expected an integer, got 'abc'"),
    ("epochs=-1", "error: -H epochs: must be >= 1, got -1"),
    ("vector_dim=50", "error: -H vector_dim is not set here: it comes from embeddings.hyperparameters.vector_dim"),
])
def test_bad_hyperparameters_fail_before_any_work(tmp_path, override, message):
    workdir = tmp_path / "wd"
    result = headlines("train", "--workdir", str(workdir), "-H", override, timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == message, result.stderr
    assert not workdir.exists()


def test_a_failing_training_job_is_one_line_naming_its_log(tiny_training, tmp_path):
    """train.py's own error line, and where the toolkit's full log is (the toolkit's env dumps
    and MXNet's lines stay in that log)."""
    from rich.console import Console

    from headlines.config import load_config
    from headlines.hyperparameters import classifier_hyperparameters
    from headlines.local.pipeline import PipelineError, classifier_step

    bad = written(tmp_path / "news.csv", "\t".join(["1", "title", "u", "p", "x", "s", "h", "1"]) + "\n")
    (embeddings,) = (tiny_training.artifact.parent.parent / "input" / "data" / "embeddings").iterdir()
    console = Console(record=True, width=200)
    with pytest.raises(PipelineError) as failed:
        classifier_step(tmp_path / "job", bad, embeddings, None, classifier_hyperparameters(load_config()), console)
    message = str(failed.value)
    log = tmp_path / "job" / "training.log"
    channel_file = tmp_path / "job" / "input" / "data" / "train" / bad.name
    assert message == f"the classifier training job failed: {channel_file}: no usable rows (skipped 1 malformed) (full log: {log})"
    assert "Invoking script with the following command" in log.read_text()
    shown = console.export_text()
    assert "SM_TRAINING_ENV" not in shown and "Invoking" not in shown and len(shown.splitlines()) <= 3, shown


def test_artifacts_are_written_atomically(tmp_path, monkeypatch):
    """A full disk (or SIGINT) while packing leaves no file under the final name, and the
    current model stays the one that was there."""
    import errno
    import os

    from headlines import artifacts

    source = tmp_path / "model"
    source.mkdir()
    (source / "metrics.json").write_text("{}")
    destination = tmp_path / "out" / "model.tar.gz"

    def disk_full(_):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            artifacts.write_tar_gz(destination, artifacts.folder_members(source))
    assert list(destination.parent.iterdir()) == []

    current = artifacts.replace_folder(source, tmp_path / "current")
    (source / "metrics.json").write_text('{"new": true}')
    with monkeypatch.context() as patch:
        patch.setattr(artifacts.shutil, "copytree", lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            artifacts.replace_folder(source, current)
    assert (current / "metrics.json").read_text() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == [
        "current", "model", "out"]
    artifacts.replace_folder(source, current)
    assert (current / "metrics.json").read_text() == '{"new": true}'


def test_train_serve_classify(tiny_training, tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "headlines.cli", "serve", "--model", str(tiny_training.artifact),
                               "--workdir", str(tmp_path), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1/classify"
    try:
        deadline = time.time() + 60
        while True:
            try:
                status, answer = post(url, json.dumps({"headline": "Fed raises interest rates again"}).encode(),
                                      content_type="application/x-www-form-urlencoded")  # what curl -d sends
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read()
                assert time.time() < deadline, "the local API did not start"
                time.sleep(0.3)
        assert status == 200
        assert answer["category"] in CATEGORIES and 0 <= answer["confidence"] <= 1
        assert set(answer["scores"]) == CATEGORIES

        status, answer = post(url, b'{"headline": "Fed raises')
        assert status == 400 and answer["error"]["code"] == "bad_request"

        classify = headlines("classify", "--url", f"http://127.0.0.1:{port}", "Apple unveils a new iPhone",
                             timeout=30)
        assert classify.returncode == 0 and classify.stdout.split()[0] in CATEGORIES
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_train_scores_on_a_given_test_file_in_the_other_format(tiny_news, tiny_corpus, tiny_training, tmp_path):
    """--test-data takes any file in either format; the training workdir's vectors are reused."""
    test_file = tmp_path / "test-with-header.csv"
    rows = [line.rstrip("\n").split("\t") for line in tiny_news.read_text(encoding="utf-8").splitlines()[:400]]
    with test_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP"])
        writer.writerows(rows)
    # A copy of the tiny model's workdir (its cached vectors), so the shared tiny model stays as it is.
    workdir = tmp_path / "workdir"
    shutil.copytree(tiny_training.model_dir.parent / "embeddings", workdir / "embeddings")
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(tiny_corpus), "--test-data", str(test_file),
                       "--workdir", str(workdir), "-H", "epochs=1")
    # Registered either way; served (exit 0) only when it clears cdk.json's quality threshold.
    from headlines.local.registry import LocalRegistry

    (record,) = LocalRegistry(workdir).records()
    assert result.returncode == (0 if record.status == "Approved" else 1), result.stderr
    assert (workdir / "model").exists() == (record.status == "Approved")
    metrics = json.loads((workdir / "registry" / "models" / record.version / "metrics.json").read_text())
    assert metrics["data"]["test"] == 400 and metrics["data"]["test_source"] == "file"
    assert metrics["test_rows"]["count"] == 400
    assert "reusing" in result.stderr


def written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("make_input, expected", [
    (lambda tmp: tmp / "missing.csv", "no such file"),
    (lambda tmp: tmp, "not a file"),
    (lambda tmp: written(tmp / "other.csv", "a,b,c\n1,2,3\n"), "not a News Aggregator file"),
    (lambda tmp: written(tmp / "empty.csv", ""), "not a News Aggregator file"),
])
def test_bad_input_is_one_line_and_nonzero_exit(tmp_path, make_input, expected):
    result = headlines("train", "--data", str(make_input(tmp_path)), "--workdir", str(tmp_path / "wd"), timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_model_says_what_to_run(tmp_path):
    result = headlines("serve", "--workdir", str(tmp_path), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no model in {tmp_path}: run `headlines train` first, or pass --model"


def test_a_missing_training_toolkit_is_one_line_before_any_work(tmp_path):
    import os

    workdir = tmp_path / "wd"
    result = subprocess.run([sys.executable, "-m", "headlines.cli", "train", "--workdir", str(workdir)],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, HEADLINES_SAGEMAKER_VENV=str(tmp_path / "absent")))
    assert result.returncode == 1 and result.stderr.strip() == (
        f"error: the SageMaker-shaped Python 3.8 environment {tmp_path / 'absent'} is missing: run 'make install' "
        "(it needs Python 3.8, e.g. 'pyenv install 3.8.18')")
    assert not workdir.exists()


def test_ctrl_c_during_training_stops_the_job_and_leaves_no_artifact(tiny_news, tiny_corpus, tmp_path):
    import signal

    workdir = tmp_path / "wd"
    process = subprocess.Popen([sys.executable, "-m", "headlines.cli", "train", "--data", str(tiny_news), "--corpus",
                                str(tiny_corpus), "--workdir", str(workdir), "-H", "epochs=3"],
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stderr:
            if line.startswith("classifier: vocabulary:"):  # train.py is training
                break
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 130 and rest.strip().splitlines()[-1] == "interrupted", rest
    finally:
        process.kill()
    (run,) = (workdir / "runs").iterdir()
    log = run / "training.log"
    size = log.stat().st_size
    time.sleep(2)
    assert log.stat().st_size == size  # the toolkit and train.py stopped with it
    assert not (run / "output" / "model.tar.gz").exists() and not (workdir / "model").exists()
    assert not [path for path in workdir.rglob("*partial*")]
