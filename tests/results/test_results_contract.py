"""The result record's contract holds together: the schema file <-> the record the API builds
<-> the types DuckDB reads (from the spool's JSON lines and from Parquet) <-> the dashboard's
SQL, which runs on DuckDB and parses as Athena's (Trino's) dialect."""
from __future__ import annotations

import hashlib
import hmac
import json
import re

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from headlines.file_modules import load_lambda
from headlines.results import schema

record_module = load_lambda("api", "results_record")
ISSUE_FIELDS = {"time", "request_id", "source", "model_version", "category", "label", "confidence", "scores",
                "latency_ms", "headline", "feed", "link"}
GLUE_SCALARS = {"string", "double", "bigint", "timestamp"}
PREDICTION = {"category": "health", "label": "m", "confidence": 0.91,
              "scores": {"business": 0.03, "science_technology": 0.02, "entertainment": 0.04, "health": 0.91}}


def make_record(**changes):
    context = dict(headline="Flu season starts early", request_id="req-1", source="api", model_version="abc123",
                   latency_ms=12.3456, when=1_700_000_000.1234)
    context.update(changes)
    return record_module.build(PREDICTION, **context)


def test_the_schema_names_every_field_of_the_issue_in_glue_types():
    fields = schema.fields()
    assert ISSUE_FIELDS <= {f.name for f in fields}
    for field in fields:
        assert re.fullmatch(r"[a-z][a-z_]*", field.name), "Glue column names are lower case"
        assert field.description
        members = schema.struct_members(field.type)
        assert field.type in GLUE_SCALARS or (members and all(kind in GLUE_SCALARS for _, kind in members))
    scores = next(f for f in fields if f.name == "scores")
    assert [name for name, _ in schema.struct_members(scores.type)] == schema.document()["categories"]


def test_a_record_follows_the_schema():
    record = make_record()
    assert list(record) == [f.name for f in schema.fields()]
    assert record["time"] == "2023-11-14 22:13:20.123"
    assert record["headline"] == "Flu season starts early" and record["headline_hash"] is None
    assert record["latency_ms"] == 12.346
    line = record_module.to_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == record


def test_without_stored_text_the_headline_is_a_keyed_hash():
    record = make_record(hash_key=b"k" * 32)
    expected = hmac.new(b"k" * 32, "Flu season starts early".encode(), hashlib.sha256).hexdigest()
    assert record["headline"] is None and record["headline_hash"] == f"hmac-sha256:{expected}"
    assert make_record(hash_key=b"other")["headline_hash"] != record["headline_hash"]


@pytest.mark.parametrize("change, message", [
    ({"request_id": None}, "'request_id' is required"),
    ({"confidence": "high"}, "'confidence' must be a double"),
    ({"confidence": float("nan")}, "'confidence' must be a double"),
    ({"confidence": True}, "'confidence' must be a double"),
    ({"time": "2023-11-14T22:13:20Z"}, "'time' must be a timestamp"),
    ({"source": "web"}, "'source' must be one of"),
    ({"category": "sports"}, "'category' must be one of"),
    ({"scores": {"business": 1.0}}, "'scores' must be an object with exactly"),
    ({"scores": {**PREDICTION["scores"], "health": "x"}}, "'scores.health' must be a double"),
    ({"extra": 1}, "unknown field(s): extra"),
    ({"headline_hash": "hmac-sha256:00"}, "exactly one of 'headline' and 'headline_hash'"),
    ({"confidence": 1.5}, "'confidence' must be between 0 and 1"),
])
def test_a_record_off_the_schema_is_refused(change, message):
    record = {**make_record(), **change}
    with pytest.raises(record_module.RecordError, match=re.escape(message)):
        record_module.validate(record)


def _duckdb_types(connection, relation: str):
    return {name: kind for name, kind, *_ in connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _spool(tmp_path, records):
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(b"".join(record_module.to_line(r) for r in records))
    return f"read_json('{spool}', format='newline_delimited', columns={schema.read_json_columns()})"


def test_duckdb_reads_the_spool_lines_and_the_parquet_files_with_the_schema_types(tmp_path):
    records = [make_record(), make_record(hash_key=b"key", source="feed", feed="https://example.com/rss",
                                          link="https://example.com/a", when=1_700_003_600.5)]
    from_json = _spool(tmp_path, records)
    parquet = tmp_path / "part.parquet"
    connection = duckdb.connect()
    connection.execute(f"COPY (SELECT * FROM {from_json}) TO '{parquet}' (FORMAT parquet)")
    from_parquet = f"read_parquet('{parquet}')"
    expected = {name: kind.replace('"', "") for name, kind in schema.duckdb_columns().items()}
    assert _duckdb_types(connection, from_json) == expected
    assert _duckdb_types(connection, from_parquet) == expected
    order = " ORDER BY \"time\""
    rows = connection.execute(f"SELECT * FROM {from_parquet}{order}").fetchall()
    assert connection.execute(f"SELECT * FROM {from_json}{order}").fetchall() == rows
    first = connection.execute(f"SELECT strftime(\"time\", '%Y-%m-%d %H:%M:%S.%g'), scores.health FROM {from_parquet}{order}").fetchone()
    assert first == ("2023-11-14 22:13:20.123", 0.91)
    assert rows[1][-4:-2] == (None, records[1]["headline_hash"])
    assert rows[1][-2:] == ("https://example.com/rss", "https://example.com/a")


def test_every_query_has_a_header_and_runs_on_duckdb(tmp_path):
    queries = schema.queries()
    assert {q.name for q in queries} == {"category_mix_per_hour", "confidence_distribution",
                                         "low_confidence_share_per_model_version", "most_uncertain_headlines",
                                         "traffic_per_source"}
    connection = duckdb.connect()
    records = [make_record(), make_record(source="batch", request_id="req-2", hash_key=b"k")]
    connection.execute(f"CREATE VIEW results AS SELECT * FROM {_spool(tmp_path, records)}")
    for query in queries:
        assert query.description, query.name
        assert connection.execute(query.sql).fetchall(), query.name


@pytest.mark.parametrize("query", schema.queries(), ids=lambda q: q.name)
def test_every_query_parses_as_athena_trino_sql_over_the_results_table_only(query):
    tree = sqlglot.parse_one(query.sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Select)
    assert {table.name for table in tree.find_all(exp.Table)} == {schema.TABLE}
    assert not [table for table in tree.find_all(exp.Table) if table.db], "the table is unqualified"
    unknown = [node.sql() for node in tree.find_all(exp.Anonymous)]
    assert not unknown, f"functions sqlglot does not know as Trino's: {unknown}"
    columns = {column.name for column in tree.find_all(exp.Column)}
    known = {f.name for f in schema.fields()} | {"hour", "bucket", "last_seen"}
    assert columns <= known, columns - known
