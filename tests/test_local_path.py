"""The whole local path, through the real command line: train -> serve -> classify."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from headlines.local_endpoint import free_port

pytestmark = pytest.mark.slow

CATEGORIES = {"business", "science_technology", "entertainment", "health"}
ARTIFACT_FILES = {"model-symbol.json", "model-0000.params", "vocab.json", "labels.json", "metrics.json",
                  "code/inference.py", "code/headline_text.py"}


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
    workdir = tiny_training.model_dir.parent
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(tiny_corpus), "--test-data", str(test_file),
                       "--workdir", str(workdir), "-H", "epochs=1")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((workdir / "model" / "metrics.json").read_text())
    assert metrics["data"]["test"] == 400 and metrics["data"]["test_source"] == "file"
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
