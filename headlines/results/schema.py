"""The result record's schema (``functions/api/results_schema.json``) in the local engines'
terms, and the dashboard's SQL files.

The schema's types are Glue/Hive names (what the Glue table declares); ``duckdb_type`` gives the
same columns for the local store, so that the spool's JSON lines and the Parquet files written
from them read with the types Athena gives the table.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Tuple

from headlines.project import RESULTS_SCHEMA_PATH

QUERIES_DIR = Path(__file__).resolve().parent / "queries"
TABLE = "results"
_SCALARS = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "timestamp": "TIMESTAMP"}
_STRUCT = re.compile(r"struct<(.*)>\Z")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    sql: str


@lru_cache(maxsize=1)
def document() -> Dict[str, Any]:
    """The schema file as it is."""
    return json.loads(RESULTS_SCHEMA_PATH.read_text(encoding="utf-8"))


def fields() -> Tuple[Field, ...]:
    return tuple(Field(f["name"], f["type"], bool(f["nullable"]), f["description"]) for f in document()["fields"])


def struct_members(hive_type: str) -> List[Tuple[str, str]]:
    """``[(name, type), ...]`` of a ``struct<name:type,...>``; [] for any other type."""
    match = _STRUCT.match(hive_type)
    return [tuple(part.split(":", 1)) for part in match.group(1).split(",")] if match else []


def duckdb_type(hive_type: str) -> str:
    members = struct_members(hive_type)
    if members:
        return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(kind)}' for name, kind in members) + ")"
    return _SCALARS[hive_type]


def duckdb_columns() -> Dict[str, str]:
    """``{column: DuckDB type}``, in the schema's order (``read_json``'s ``columns``)."""
    return {f.name: duckdb_type(f.type) for f in fields()}


def read_json_columns() -> str:
    """``duckdb_columns`` as the ``columns`` argument of DuckDB's ``read_json``."""
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in duckdb_columns().items()) + "}"


def queries() -> Tuple[Query, ...]:
    """The dashboard's questions, one SQL file each, over an unqualified table ``results``."""
    found = []
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        header = dict(re.findall(r"^-- (Name|Description): (.*)$", text, flags=re.MULTILINE))
        found.append(Query(header.get("Name", path.stem), header.get("Description", ""), text))
    return tuple(found)


def query(name: str) -> Query:
    return next(q for q in queries() if q.name == name)
