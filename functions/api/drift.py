"""Drift figures: the live category mix against the training data's, and low-confidence answers.

- ``category_distance``: the total variation distance between the two mixes, half the sum of
  the absolute differences of the category shares (0: the same mix, 1: no category in common).
- ``low_confidence_share``: the share of answers whose confidence is below a threshold.

The baseline is the model artifact's ``metrics.json`` ``data.category_mix`` (written by
training/train.py). The live counts come from the results table (``drift_sql``: Athena in AWS,
the same SQL on DuckDB locally). Standard library only.
"""
from __future__ import annotations

import json
import tarfile
import time
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterable, Mapping, Optional, Tuple

METRICS_MEMBER = "metrics.json"


@dataclass(frozen=True)
class DriftFigures:
    records: int
    category_mix: Dict[str, float]
    category_distance: Optional[float]  # None: too few records, or no baseline
    low_confidence_share: Optional[float]  # None: too few records


def drift_sql(window_start: float, low_confidence: float, table: str = "results", partitioned: bool = True) -> str:
    """Records per category and how many had a low confidence, since ``window_start`` (epoch s).

    ``partitioned``: also restrict the projected ``dt`` partition (Athena then reads only the
    hours of the window, not the whole table)."""
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(window_start))
    where = [f"\"time\" >= timestamp '{start}'"]
    if partitioned:
        where.insert(0, f"dt >= '{time.strftime('%Y/%m/%d/%H', time.gmtime(window_start))}'")
    return (
        "SELECT category, count(*) AS records, "
        f"sum(CASE WHEN confidence < {float(low_confidence)!r} THEN 1 ELSE 0 END) AS low_confidence "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY category ORDER BY category"
    )


def figures(rows: Iterable[Tuple[str, int, int]], baseline: Optional[Mapping[str, float]], min_records: int) -> DriftFigures:
    """The figures from ``(category, records, low_confidence)`` rows."""
    counts: Dict[str, int] = {}
    low = 0
    for category, records, low_confidence in rows:
        counts[str(category)] = counts.get(str(category), 0) + int(records)
        low += int(low_confidence)
    total = sum(counts.values())
    mix = {category: count / total for category, count in sorted(counts.items())} if total else {}
    if total < min_records:
        return DriftFigures(total, mix, None, None)
    distance = None
    if baseline:
        categories = set(baseline) | set(mix)
        distance = round(0.5 * sum(abs(mix.get(c, 0.0) - float(baseline.get(c, 0.0))) for c in categories), 6)
    return DriftFigures(total, mix, distance, round(low / total, 6))


def baseline_from_artifact(stream: IO[bytes]) -> Optional[Dict[str, float]]:
    """``data.category_mix`` of the ``metrics.json`` in a ``model.tar.gz`` stream (read in one
    pass, stopping at the member); None when the artifact has none (a model trained before it)."""
    with tarfile.open(fileobj=stream, mode="r|gz") as archive:
        for member in archive:
            if member.isfile() and member.name.lstrip("./") == METRICS_MEMBER:
                handle = archive.extractfile(member)
                if handle is None:
                    return None
                metrics: Any = json.loads(handle.read().decode("utf-8"))
                mix = (metrics.get("data") or {}).get("category_mix") if isinstance(metrics, dict) else None
                return {str(k): float(v) for k, v in mix.items()} if isinstance(mix, dict) and mix else None
    return None
