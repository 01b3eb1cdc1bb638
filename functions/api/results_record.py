"""One result record per classified headline, built and checked against ``results_schema.json``
(the one schema of the record: the Glue table, the local store, the dashboard and the docs
follow it).

Standard library only: this runs in the API Lambda (python3.12) and locally (the feed reader,
bulk scoring, the tests). ``build`` makes a record from one prediction of the API's answer
(``{"category", "label", "confidence", "scores"}``) and its context; ``validate`` checks any
record (as it comes back from the spool, say) and raises ``RecordError`` naming the field.

Headline text: stored as sent, or, where ``results.store_text`` is false, replaced by
``headline_hash``: ``hmac-sha256:<hex>`` under a key the deployment holds (see
``docs/results.md``), so equal headlines can still be counted without keeping their words.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

SCHEMA_PATH = Path(__file__).resolve().parent / "results_schema.json"
SCHEMA: Dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
FIELDS: Tuple[str, ...] = tuple(field["name"] for field in SCHEMA["fields"])
CATEGORIES: Tuple[str, ...] = tuple(SCHEMA["categories"])
SOURCES: Tuple[str, ...] = tuple(SCHEMA["sources"])
HASH_PREFIX = "hmac-sha256:"
# 'yyyy-MM-dd HH:mm:ss.SSS', UTC: java.sql.Timestamp.valueOf's form (see the schema).
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\Z")
_STRUCT = re.compile(r"struct<(.*)>\Z")


class RecordError(ValueError):
    """A record does not follow the schema."""


def format_time(epoch_seconds: float) -> str:
    """``epoch_seconds`` as the schema's UTC timestamp text (milliseconds)."""
    millis = int(epoch_seconds * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}"


def headline_hash(key: bytes, headline: str) -> str:
    """The keyed hash that stands for a headline whose text is not stored."""
    return HASH_PREFIX + hmac.new(key, headline.encode("utf-8"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=None)
def _struct_fields(hive_type: str) -> Tuple[Tuple[str, str], ...]:
    match = _STRUCT.match(hive_type)
    if not match:
        return ()
    return tuple(tuple(part.split(":", 1)) for part in match.group(1).split(","))


_TYPES = {field["name"]: field["type"] for field in SCHEMA["fields"]}
_NULLABLE = {field["name"]: bool(field["nullable"]) for field in SCHEMA["fields"]}
SCORE_FIELDS: Tuple[str, ...] = tuple(name for name, _ in _struct_fields(_TYPES["scores"]))


def _check(name: str, hive_type: str, value: Any) -> None:
    if hive_type == "string":
        ok = isinstance(value, str)
    elif hive_type == "double":
        # (type() first: the common case costs one comparison; this runs in the answer's path)
        ok = (type(value) is float or (isinstance(value, (int, float)) and not isinstance(value, bool))) and math.isfinite(value)
    elif hive_type == "bigint":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hive_type == "timestamp":
        ok = isinstance(value, str) and bool(_TIME.match(value))
    else:
        members = _struct_fields(hive_type)
        if not members or not isinstance(value, dict) or set(value) != {member for member, _ in members}:
            raise RecordError(f"{name!r} must be an object with exactly {', '.join(m for m, _ in members)}")
        for member, member_type in members:
            if value[member] is not None:
                _check(f"{name}.{member}", member_type, value[member])
        return
    if not ok:
        raise RecordError(f"{name!r} must be a {hive_type}, not {type(value).__name__} {str(value)[:40]!r}")


def validate(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """``record`` itself when it follows the schema; RecordError otherwise."""
    if not isinstance(record, Mapping):
        raise RecordError("a record must be an object")
    unknown = set(record) - set(FIELDS)
    if unknown:
        raise RecordError(f"unknown field(s): {', '.join(sorted(unknown))}")
    for name in FIELDS:
        value = record.get(name)
        if value is None:
            if not _NULLABLE[name]:
                raise RecordError(f"{name!r} is required")
            continue
        _check(name, _TYPES[name], value)
    if record["source"] not in SOURCES:
        raise RecordError(f"'source' must be one of {', '.join(SOURCES)}")
    if record["category"] not in CATEGORIES:
        raise RecordError(f"'category' must be one of {', '.join(CATEGORIES)}")
    if (record.get("headline") is None) == (record.get("headline_hash") is None):
        raise RecordError("exactly one of 'headline' and 'headline_hash' is set")
    if not 0.0 <= record["confidence"] <= 1.0:
        raise RecordError("'confidence' must be between 0 and 1")
    return record


def _double(value: Any) -> Any:
    # 0 and 1 as 0.0 and 1.0: the JSON then reads as a double everywhere.
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def build(prediction: Mapping[str, Any], *, headline: str, request_id: str, source: str, model_version: str,
          latency_ms: float, when: Optional[float] = None, hash_key: Optional[bytes] = None,
          feed: Optional[str] = None, link: Optional[str] = None) -> Dict[str, Any]:
    """The record of one prediction; ``hash_key`` set means the text is not stored (its hash is).

    RecordError when the prediction or the context does not fit the schema.
    """
    scores = prediction.get("scores") or {}
    if not isinstance(scores, Mapping):
        raise RecordError("'scores' must be an object")
    record = {
        "time": format_time(time.time() if when is None else when),
        "request_id": request_id,
        "source": source,
        "model_version": model_version or "unknown",
        "category": prediction.get("category"),
        "label": prediction.get("label"),
        "confidence": _double(prediction.get("confidence")),
        "scores": {name: _double(scores.get(name)) for name in SCORE_FIELDS},
        "latency_ms": round(float(latency_ms), 3),
        "headline": headline if hash_key is None else None,
        "headline_hash": headline_hash(hash_key, headline) if hash_key is not None else None,
        "feed": feed,
        "link": link,
    }
    validate(record)
    return record


def to_line(record: Mapping[str, Any]) -> bytes:
    """The record as one line of JSON (UTF-8, ``\\n``-terminated): the spool's and Firehose's form."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
