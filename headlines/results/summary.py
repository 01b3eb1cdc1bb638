"""What ``headlines results summary`` and the dashboard show: the stored records counted per
category, source and model version, how sure the model was, and the drift of the live
category mix from the training data's.

Drift is the total variation distance between the two mixes (half the sum of the absolute
differences of the category shares: 0 the same mix, 1 nothing in common), against the
baseline the model artifact carries (``metrics.json`` ``data.category_mix``, written by
training/train.py), as the drift check in AWS computes it.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from headlines.results import schema

LOW_CONFIDENCE = 0.5
_RELATIVE = re.compile(r"(\d+)\s*([mhd])\Z")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class SinceError(ValueError):
    """A --since the command line cannot read."""


def parse_since(text: str, now: Optional[datetime] = None) -> datetime:
    """``--since``: a duration back from now (``30m``, ``6h``, ``7d``) or a UTC date or time
    (``2026-12-07``, ``2026-12-07T05:00``); a naive UTC datetime."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SinceError(f"--since {text!r}: expected a duration (30m, 6h, 7d) or a UTC date/time "
                         "(2026-12-07, 2026-12-07T05:00)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def baseline(model_dir: Optional[Path]) -> Optional[Dict[str, float]]:
    """The training data's category mix from a model folder's metrics.json (None without one)."""
    if model_dir is None:
        return None
    try:
        data = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
        mix = data["data"]["category_mix"]
        return {str(name): float(share) for name, share in mix.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def distance(live: Mapping[str, float], base: Mapping[str, float]) -> float:
    """Total variation distance between two category mixes."""
    return round(sum(abs(live.get(c, 0.0) - base.get(c, 0.0)) for c in set(live) | set(base)) / 2, 4)


def where_since(since: Optional[datetime]) -> str:
    """The WHERE clause of records since ``since`` (none: every record)."""
    return f"WHERE \"time\" >= TIMESTAMP '{since.isoformat(sep=' ')}'" if since else ""


def summarize(connection: Any, since: Optional[datetime] = None, base: Optional[Mapping[str, float]] = None,
              low_confidence: float = LOW_CONFIDENCE) -> Dict[str, Any]:
    """The summary of the records in ``connection``'s ``results`` view since ``since``."""
    where = where_since(since)
    total, first, last, mean, low = connection.execute(
        f"SELECT count(*), min(\"time\"), max(\"time\"), avg(confidence), "
        f"coalesce(sum(CASE WHEN confidence < {float(low_confidence)!r} THEN 1 ELSE 0 END), 0) FROM results {where}").fetchone()
    categories = {name: 0 for name in schema.document()["categories"]}
    categories.update(dict(connection.execute(
        f"SELECT category, count(*) FROM results {where} GROUP BY category").fetchall()))
    sources = dict(connection.execute(f"SELECT source, count(*) FROM results {where} GROUP BY source ORDER BY source").fetchall())
    versions: List[Dict[str, Any]] = [
        {"model_version": version, "records": count, "mean_confidence": round(avg, 4),
         "low_confidence_share": round(share, 4), "last": str(latest)}
        for version, count, avg, share, latest in connection.execute(
            f"SELECT model_version, count(*), avg(confidence), avg(CASE WHEN confidence < {float(low_confidence)!r} "
            f"THEN 1.0 ELSE 0.0 END), max(\"time\") FROM results {where} GROUP BY model_version ORDER BY max(\"time\") DESC"
        ).fetchall()]
    mix = {name: round(count / total, 4) for name, count in categories.items()} if total else {}
    return {
        "records": total,
        "since": since.isoformat(sep=" ") if since else None,
        "first": str(first) if first is not None else None,
        "last": str(last) if last is not None else None,
        "by_category": categories,
        "category_mix": mix,
        "by_source": sources,
        "by_model_version": versions,
        "mean_confidence": round(mean, 4) if mean is not None else None,
        "low_confidence": {"below": low_confidence, "records": low, "share": round(low / total, 4) if total else None},
        "drift": {"baseline": dict(base) if base else None,
                  "category_distance": distance(mix, base) if base and total else None},
    }
