"""The local registry with real trainings (the shared tiny model first): the champion is scored
on the challenger's own test rows through the champion channel, a weaker model is refused with
both figures, and approve / rollback change the model ``headlines serve`` answers with."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from headlines import registry as reg
from headlines.config import load_config
from headlines.local.registry import LocalRegistry

pytestmark = pytest.mark.xdist_group("registry-training")


def headlines(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True, timeout=timeout)


def version_of(model_dir: Path) -> str:
    return json.loads((model_dir / "metrics.json").read_text())["model_version"]


@pytest.fixture(scope="module")
def workdir(tiny_training, tmp_path_factory) -> Path:
    """A copy of the tiny model's workdir: its registry (one approved model), served model and vectors."""
    source = tiny_training.model_dir.parent
    copy = tmp_path_factory.mktemp("registry") / "wd"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("runs", "serving"))
    return copy


def test_the_first_model_has_no_champion_and_is_approved(tiny_training):
    metrics, record = tiny_training.metrics, tiny_training.record
    assert "champion" not in metrics and metrics["test_rows"]["count"] == metrics["data"]["test"]
    assert record.status == reg.APPROVED and record.metadata["champion_version"] == "none"
    assert version_of(tiny_training.model_dir) == record.version  # <workdir>/model serves it


@pytest.fixture(scope="module")
def second(workdir, tiny_news, tiny_corpus):
    """A second training on the same data with other settings: the champion channel is the first model."""
    config = load_config({"headlines.classifier.quality_threshold": 0, "headlines.classifier.champion_tolerance": 1})
    from headlines.local.pipeline import train

    return train(config, workdir=workdir, data=str(tiny_news), corpus=str(tiny_corpus),
                 overrides={"epochs": 1, "dropout": 0.3}, console=Console(quiet=True))


def test_the_champion_is_scored_on_the_same_rows(tiny_training, second):
    champion = second.metrics["champion"]
    first = tiny_training.metrics
    # the very rows the first model was tested on: the same split, the same figures
    assert second.metrics["test_rows"] == first["test_rows"]
    assert champion["model_version"] == tiny_training.record.version
    assert champion["macro_f1"] == pytest.approx(first["macro_f1"], abs=1e-9)
    assert champion["accuracy"] == pytest.approx(first["accuracy"], abs=1e-9)
    gate = second.gate
    assert gate.champion_value == pytest.approx(first["macro_f1"]) and gate.verdict == reg.PROMOTE  # tolerance 1
    assert second.record.status == reg.APPROVED and version_of(second.model_dir) == second.record.version


def test_a_model_below_the_gate_is_refused_with_both_figures(workdir, second, tiny_news, tiny_corpus):
    served = version_of(workdir / "model")
    result = headlines("train", "--data", str(tiny_news), "--corpus", str(tiny_corpus), "--workdir", str(workdir),
                       "-H", "epochs=1", "-H", "linear_epochs=1", "-H", "dropout=0.2")
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: model ") and "refused and registered as Rejected" in line
    assert "challenger 0." in line and f"champion {second.record.version} 0." in line  # both figures
    assert version_of(workdir / "model") == served  # the approved model still serves
    records = LocalRegistry(workdir).records()
    assert [r.status for r in records] == [reg.APPROVED, reg.APPROVED, reg.REJECTED]

    listed = headlines("model", "list", "--json", "--workdir", str(workdir), timeout=60)
    assert listed.returncode == 0 and json.loads(listed.stdout)["serving"] == second.record.version


def served_version(workdir: Path) -> str:
    """Starts ``headlines serve`` on the workdir and reads the model version its API answers with."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "headlines.cli", "serve", "--workdir", str(workdir),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as answer:
                    return json.loads(answer.read())["model"]["version"]
            except (urllib.error.URLError, ConnectionError, OSError):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.time() < deadline, "the local API did not start"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_approve_and_rollback_change_what_serve_answers_with(workdir, tiny_training, second):
    first = tiny_training.record.version
    assert served_version(workdir) == second.record.version
    rolled = headlines("model", "rollback", "--workdir", str(workdir), timeout=60)
    assert rolled.returncode == 0, rolled.stderr
    assert served_version(workdir) == first
    refused = headlines("model", "approve", second.record.version, "--workdir", str(workdir), timeout=60)
    assert refused.returncode == 2 and "was rejected" in refused.stderr  # rolled back = rejected
    unknown = headlines("model", "approve", "ffffffff", "--workdir", str(workdir), timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
