"""The model registry: what both backends share (records, the promotion gate, approve/reject/rollback).

A record is one trained model that reached the gate: SageMaker's model package in AWS
(headlines/registry_aws.py), a JSON file in the work directory locally
(headlines/local/registry.py). Both keep the same fields; the lineage and the gate's figures
are string properties, as SageMaker's ``CustomerMetadataProperties`` holds them.

The model that serves is the **approved record approved last** (``approved_at``, else its
registration time). Rollback rejects it and approves again the approved one before it.
"""
from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence

from headlines.errors import EXIT_FAILURE, UserError

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
STATUSES = (APPROVED, REJECTED, PENDING)

PROMOTE = "promote"
REFUSE = "refuse"

#: The gate's metric (cdk.json classifier.quality_metric) -> its key in metrics.json.
METRIC_KEYS = {"test_accuracy": "accuracy", "test_macro_f1": "macro_f1"}

#: The metadata keys (SageMaker CustomerMetadataProperties: string -> string) both backends write.
LINEAGE_KEYS = ("model_version", "execution", "training_job", "embeddings_job", "news_sha256", "corpus_sha256",
                "code_sha256")
GATE_KEYS = ("gate_metric", "gate_value", "gate_threshold", "gate_tolerance", "champion_version", "champion_value",
             "test_rows", "test_rows_sha256", "verdict", "reason")


class RegistryError(UserError):
    """An unknown version, a forbidden transition, no registry: one line for the user."""


class GateRefused(UserError):
    """The challenger was registered as rejected; its figures are in the message."""

    exit_status = EXIT_FAILURE


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Gate:
    """The promotion gate: ``metric`` at or above ``threshold`` and no worse than the champion's
    (scored on the same held-out rows) by more than ``tolerance``. The Step Functions gate
    (infra/quality_gate.py) evaluates the same rule; tests/infra hold them together."""

    metric: str
    value: Optional[float]
    threshold: float
    tolerance: float
    champion_version: Optional[str]
    champion_value: Optional[float]
    test_rows: int
    test_rows_sha256: str

    @property
    def verdict(self) -> str:
        return PROMOTE if not self.reason_refused() else REFUSE

    def reason_refused(self) -> str:
        if self.value is None:
            return f"no {self.metric} in the model's metrics"
        if self.value < self.threshold:
            return f"{self.metric} {self.value:.4f} is below the threshold {self.threshold}"
        if self.champion_value is not None and self.value < self.champion_value - self.tolerance:
            return (f"{self.metric} {self.value:.4f} is worse than the champion {self.champion_version}'s "
                    f"{self.champion_value:.4f} on the same {self.test_rows:,} rows by more than {self.tolerance}")
        return ""

    def summary(self) -> str:
        champion = (f"champion {self.champion_version} {self.champion_value:.4f}" if self.champion_value is not None
                    else "no champion")
        value = "none" if self.value is None else f"{self.value:.4f}"
        return (f"{self.metric}: challenger {value}, {champion} (same {self.test_rows:,} rows, "
                f"sha256 {self.test_rows_sha256[:12]}), threshold {self.threshold}, tolerance {self.tolerance}")

    def metadata(self) -> Dict[str, str]:
        return _strings({
            "gate_metric": self.metric, "gate_value": self.value, "gate_threshold": self.threshold,
            "gate_tolerance": self.tolerance, "champion_version": self.champion_version or "none",
            "champion_value": self.champion_value, "test_rows": self.test_rows,
            "test_rows_sha256": self.test_rows_sha256, "verdict": self.verdict, "reason": self.reason_refused()[:256] or "none",
        })


def gate_of(metrics: Mapping[str, Any], metric: str, threshold: float, tolerance: float) -> Gate:
    """The gate for a model's metrics.json (train.py writes ``champion`` when it scored one)."""
    key = METRIC_KEYS[metric]
    champion = metrics.get("champion") or {}
    rows = metrics.get("test_rows") or {}
    value = metrics.get(key)
    return Gate(metric=metric, value=None if value is None else float(value), threshold=threshold, tolerance=tolerance,
                champion_version=champion.get("model_version"),
                champion_value=float(champion[key]) if key in champion else None,
                test_rows=int(rows.get("count", metrics.get("data", {}).get("test", 0))),
                test_rows_sha256=str(rows.get("sha256", "")))


def _strings(values: Mapping[str, Any]) -> Dict[str, str]:
    return {key: "none" if value is None else str(value) for key, value in values.items()}


@dataclass(frozen=True)
class ModelRecord:
    version: str  # metrics.json model_version: the content hash of the parameters
    status: str
    model_data_url: str  # s3://.../model.tar.gz, or a local model.tar.gz
    registered_at: str
    metrics: Dict[str, float] = field(default_factory=dict)  # accuracy, macro_f1 on the test rows
    metadata: Dict[str, str] = field(default_factory=dict)  # LINEAGE_KEYS + GATE_KEYS
    approved_at: Optional[str] = None
    description: str = ""
    package: str = ""  # the model package ARN, or the record's file

    def as_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "ModelRecord":
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in document.items() if key in names})

    def line(self, serving: bool) -> str:
        marker = "*" if serving else " "
        metadata = self.metadata
        gate = metadata.get("gate_metric", "metric")
        champion = metadata.get("champion_value", "none")
        return (f"{marker} {self.version}  {self.status:<21} {gate} {_figure(metadata.get('gate_value'))}"
                f"  champion {_figure(champion)}  {metadata.get('verdict', '?'):<8} {self.registered_at[:19]}")


def _figure(text: Optional[str]) -> str:
    try:
        return f"{float(text or ''):.4f}"
    except ValueError:
        return "  none"


class Registry(Protocol):
    """A backend: where records are kept, and what serving follows."""

    where: str  # named in messages (a folder, a model package group)

    def records(self) -> List[ModelRecord]:
        """Every record, oldest first; [] when nothing is registered (RegistryError when there is no registry)."""

    def register(self, record: ModelRecord) -> ModelRecord: ...

    def update(self, record: ModelRecord) -> None:
        """Write ``status``, ``approved_at`` and ``description`` of an existing record."""

    def serving_changed(self, record: Optional[ModelRecord]) -> str:
        """Point serving at ``record``; returns one line saying what happens next."""


def _approval_time(record: ModelRecord) -> str:
    return record.approved_at or record.registered_at


def serving(records: Sequence[ModelRecord]) -> Optional[ModelRecord]:
    """The model that serves: the approved record approved last."""
    approved = [record for record in records if record.status == APPROVED]
    return max(approved, key=_approval_time) if approved else None


def find(registry: Registry, version: str) -> ModelRecord:
    """The record of ``version`` (or of a unique prefix of it, at least 4 characters)."""
    records = registry.records()
    if not records:
        raise RegistryError(f"no model is registered in {registry.where}: train one first")
    exact = [record for record in records if record.version == version]
    matches = exact or ([record for record in records if record.version.startswith(version)] if len(version) >= 4 else [])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RegistryError(f"no model {version} in {registry.where} (headlines model list shows them)")
    raise RegistryError(f"{version} names {len(matches)} models in {registry.where}: give more of the version")


def approve(registry: Registry, version: str, description: str = "approved") -> tuple:
    """Approve a registered (pending or approved) model; it serves from now on. Returns (record, next step)."""
    record = find(registry, version)
    if record.status == REJECTED:
        raise RegistryError(f"model {record.version} was rejected ({record.description or 'by the gate'}): "
                            "a rejected model cannot be approved; train or register a new one")
    return _set(registry, record, APPROVED, description)


def reject(registry: Registry, version: str, description: str = "rejected") -> tuple:
    record = find(registry, version)
    return _set(registry, record, REJECTED, description)


def rollback(registry: Registry) -> tuple:
    """Reject the serving model and approve again the approved one before it."""
    records = registry.records()
    current = serving(records)
    if current is None:
        raise RegistryError(f"no approved model in {registry.where}: nothing to roll back")
    earlier = serving([record for record in records if record.version != current.version])
    if earlier is None:
        raise RegistryError(f"model {current.version} is the only approved model in {registry.where}: "
                            "nothing to roll back to")
    registry.update(dataclasses.replace(current, status=REJECTED, description=f"rolled back to {earlier.version}"))
    return _set(registry, earlier, APPROVED, f"rollback from {current.version}")


def _set(registry: Registry, record: ModelRecord, status: str, description: str) -> tuple:
    changed = dataclasses.replace(record, status=status, description=description,
                                  approved_at=now() if status == APPROVED else record.approved_at)
    registry.update(changed)
    return changed, registry.serving_changed(serving(registry.records()))
