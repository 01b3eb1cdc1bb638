"""The model registry: the gate, approve/reject/rollback, on both backends (local files; SageMaker
through moto), and ``headlines model ...`` on the command line. No training here: records and
model folders are made by hand (test_registry_training.py trains;
tests/infra/test_infra_registry.py runs the AWS backend on moto)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from headlines import registry as reg
from headlines.cli import commands as cli
from headlines.local.registry import LocalRegistry


def gate(value, champion=None, threshold=0.8, tolerance=0.01) -> reg.Gate:
    return reg.Gate("test_macro_f1", value, threshold, tolerance, "c0ffee" if champion is not None else None, champion,
                    1632, "ab" * 32)


@pytest.mark.parametrize("value, champion, verdict", [
    (0.85, None, reg.PROMOTE),  # the first model has no champion
    (0.79, None, reg.REFUSE),  # below the threshold
    (0.85, 0.855, reg.PROMOTE),  # worse by less than the tolerance
    (0.85, 0.87, reg.REFUSE),  # worse by more than the tolerance
    (0.90, 0.87, reg.PROMOTE),
    (None, None, reg.REFUSE),  # no metric
])
def test_gate(value, champion, verdict):
    assert gate(value, champion).verdict == verdict


def test_gate_of_metrics_reads_the_champion_scored_on_the_same_rows():
    metrics = {"accuracy": 0.9, "macro_f1": 0.81, "data": {"test": 10},
               "test_rows": {"count": 10, "sha256": "f" * 64},
               "champion": {"model_version": "beef", "accuracy": 0.92, "macro_f1": 0.86}}
    result = reg.gate_of(metrics, "test_macro_f1", 0.8, 0.01)
    assert (result.value, result.champion_value, result.champion_version, result.test_rows) == (0.81, 0.86, "beef", 10)
    assert result.verdict == reg.REFUSE and "0.8100" in result.summary() and "0.8600" in result.summary()
    metadata = result.metadata()
    assert metadata["verdict"] == "refuse" and metadata["test_rows_sha256"] == "f" * 64
    assert all(isinstance(value, str) and len(value) <= 256 for value in metadata.values())  # SageMaker's limits


def make_model(registry: LocalRegistry, version: str, status: str, registered_at: str, value: float = 0.85) -> reg.ModelRecord:
    folder = registry.model_dir(version)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"model_version": version, "macro_f1": value}))
    return registry.register(reg.ModelRecord(
        version=version, status=status, model_data_url=f"/runs/{version}/model.tar.gz", registered_at=registered_at,
        metrics={"macro_f1": value}, metadata=dict(gate(value).metadata(), model_version=version),
        approved_at=registered_at if status == reg.APPROVED else None))


def serving_version(workdir: Path):
    path = workdir / "model" / "metrics.json"
    return json.loads(path.read_text())["model_version"] if path.is_file() else None


def test_local_approve_reject_rollback_move_the_served_model(tmp_path):
    registry = LocalRegistry(tmp_path)
    make_model(registry, "aaaa1111", reg.APPROVED, "2026-01-01T00:00:00.000000Z")
    make_model(registry, "bbbb2222", reg.PENDING, "2026-01-02T00:00:00.000000Z")
    make_model(registry, "cccc3333", reg.REJECTED, "2026-01-03T00:00:00.000000Z", 0.5)
    assert reg.serving(registry.records()).version == "aaaa1111"

    record, _ = reg.approve(registry, "bbbb")  # a unique prefix
    assert record.status == reg.APPROVED and serving_version(tmp_path) == "bbbb2222"
    with pytest.raises(reg.RegistryError, match="rejected"):
        reg.approve(registry, "cccc3333")
    with pytest.raises(reg.RegistryError, match="no model dddd"):
        reg.approve(registry, "dddd")

    record, _ = reg.rollback(registry)
    assert record.version == "aaaa1111" and serving_version(tmp_path) == "aaaa1111"
    assert {r.version: r.status for r in registry.records()}["bbbb2222"] == reg.REJECTED
    with pytest.raises(reg.RegistryError, match="only approved model"):
        reg.rollback(registry)
    assert not list(registry.folder.glob(".*partial*"))  # written under temporary names, renamed


def test_no_registry_is_one_line(tmp_path, capsys):
    assert cli.main(["model", "approve", "abcd", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no model is registered in") and "\n" not in err


def test_cli_list_show_approve_rollback_json(tmp_path, capsys):
    registry = LocalRegistry(tmp_path)
    make_model(registry, "aaaa1111", reg.APPROVED, "2026-01-01T00:00:00.000000Z")
    make_model(registry, "bbbb2222", reg.PENDING, "2026-01-02T00:00:00.000000Z")
    workdir = ["--workdir", str(tmp_path)]
    assert cli.main(["model", "list", "--json", *workdir]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["serving"] == "aaaa1111" and [m["version"] for m in listed["models"]] == ["aaaa1111", "bbbb2222"]
    assert cli.main(["model", "show", "bbbb2222", *workdir]) == 0
    assert "PendingManualApproval" in capsys.readouterr().out
    assert cli.main(["model", "approve", "bbbb2222", "--json", *workdir]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == reg.APPROVED and serving_version(tmp_path) == "bbbb2222"
    assert cli.main(["model", "rollback", *workdir]) == 0
    assert "aaaa1111" in capsys.readouterr().out and serving_version(tmp_path) == "aaaa1111"
    assert cli.main(["model", "approve", "bbbb2222", *workdir]) == 2  # rolled back = rejected
    assert capsys.readouterr().err.count("\n") == 1
