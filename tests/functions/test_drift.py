"""The drift check (functions/api/drift.py, drift_handler.py): the figures, the baseline read
from a model artifact, its SQL on DuckDB (the local engine) and in Athena's Trino dialect, and
the handler's metrics with a stand-in Athena."""
from __future__ import annotations

import io
import json
import tarfile
import time

import pytest

from headlines.file_modules import load_lambda

drift_handler = load_lambda("api", "drift_handler")
import drift  # noqa: E402  (functions/api is on sys.path once load_lambda ran)

BASELINE = {"business": 0.25, "science_technology": 0.25, "entertainment": 0.25, "health": 0.25}


def artifact(metrics) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("model-0000.params", b"\0" * 1000), ("metrics.json", json.dumps(metrics).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_same_mix_is_no_drift_and_a_disjoint_one_is_all():
    same = drift.figures([(c, 25, 5) for c in BASELINE], BASELINE, min_records=10)
    assert (same.records, same.category_distance, same.low_confidence_share) == (100, 0.0, 0.2)
    disjoint = drift.figures([("business", 50, 0)], {"health": 1.0}, min_records=10)
    assert disjoint.category_distance == 1.0
    shifted = drift.figures([("business", 70, 0), ("health", 30, 30)], BASELINE, min_records=10)
    assert shifted.category_distance == pytest.approx(0.5 * (0.45 + 0.25 + 0.25 + 0.05))
    assert shifted.low_confidence_share == 0.3


def test_too_few_records_or_no_baseline_give_no_figure():
    few = drift.figures([("business", 3, 1)], BASELINE, min_records=10)
    assert (few.records, few.category_distance, few.low_confidence_share) == (3, None, None)
    unknown = drift.figures([("business", 30, 1)], None, min_records=10)
    assert unknown.category_distance is None and unknown.low_confidence_share == round(1 / 30, 6)


def test_the_baseline_comes_from_the_artifacts_metrics_json():
    mix = {"business": 0.27, "science_technology": 0.26, "entertainment": 0.36, "health": 0.11}
    assert drift.baseline_from_artifact(io.BytesIO(artifact({"data": {"category_mix": mix}}))) == mix
    assert drift.baseline_from_artifact(io.BytesIO(artifact({"data": {}}))) is None  # a model trained before it


def test_the_sql_runs_on_duckdb_and_parses_as_trino():
    import duckdb
    import sqlglot

    start = time.time() - 3600
    sql = drift.drift_sql(start, 0.5)
    sqlglot.parse_one(sql, read="trino")  # raises when Athena's dialect would not parse it
    connection = duckdb.connect()
    connection.execute('CREATE TABLE results ("time" TIMESTAMP, category VARCHAR, confidence DOUBLE, dt VARCHAR)')
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start - 7200))
    connection.execute("INSERT INTO results VALUES (?, 'business', 0.9, ?), (?, 'business', 0.3, ?), (?, 'health', 0.4, ?), "
                       "(?, 'health', 0.1, '2000/01/01/00')", [now, hour, now, hour, now, hour, old])
    rows = connection.execute(sql).fetchall()
    assert [(c, int(n), int(low)) for c, n, low in rows] == [("business", 2, 1), ("health", 1, 1)]


class FakeAthena:
    def __init__(self, rows, state="SUCCEEDED"):
        self.rows, self.state, self.queries = rows, state, []

    def start_query_execution(self, **kwargs):
        self.queries.append(kwargs)
        return {"QueryExecutionId": "q1"}

    def get_query_execution(self, QueryExecutionId):
        return {"QueryExecution": {"Status": {"State": self.state, "StateChangeReason": "TABLE_NOT_FOUND"}}}

    def get_paginator(self, name):
        rows = [["category", "records", "low_confidence"], *self.rows]

        class Pages:
            def paginate(self, **kwargs):
                yield {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": str(v)} for v in row]} for row in rows]}}
        return Pages()


class FakeS3:
    def __init__(self, body):
        self.body = body

    def get_object(self, Bucket, Key):
        return {"Body": io.BytesIO(self.body)}


class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "drift", 512, "arn:aws:lambda:::drift", "r1"


def run_handler(monkeypatch, capsys, athena, mix):
    clients = {"athena": athena, "s3": FakeS3(artifact({"data": {"category_mix": mix}}))}
    monkeypatch.setattr(drift_handler.boto3, "client", lambda name: clients[name])
    monkeypatch.setenv("MODEL_DATA_URL", f"s3://artifacts/models/run{time.time_ns()}/output/model.tar.gz")
    monkeypatch.setenv("RESULTS_DATABASE", "headlines_dev_results")
    monkeypatch.setenv("RESULTS_WORKGROUP", "headlines-dev-results")
    monkeypatch.setenv("DRIFT_MIN_RECORDS", "10")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    capsys.readouterr()
    answer = drift_handler.handler({}, Context())
    metrics = {}
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for definition in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in definition["Metrics"]:
                value = document[metric["Name"]]
                metrics[metric["Name"]] = value[0] if isinstance(value, list) and len(value) == 1 else value
    return answer, metrics


def test_the_handler_publishes_the_figures(monkeypatch, capsys):
    athena = FakeAthena([("business", 60, 30), ("health", 40, 0)])
    answer, metrics = run_handler(monkeypatch, capsys, athena, BASELINE)
    assert answer["ok"] and answer["records"] == 100
    assert metrics["DriftCategoryDistance"] == pytest.approx(0.5 * (0.35 + 0.25 + 0.25 + 0.15))
    assert metrics["DriftLowConfidenceShare"] == 0.3 and metrics["DriftCheckFailed"] == 0
    query = athena.queries[0]
    assert query["WorkGroup"] == "headlines-dev-results" and query["QueryExecutionContext"] == {"Database": "headlines_dev_results"}
    assert "dt >= '" in query["QueryString"]  # reads only the window's projected partitions


def test_a_failing_query_is_one_metric_not_an_exception(monkeypatch, capsys):
    answer, metrics = run_handler(monkeypatch, capsys, FakeAthena([], state="FAILED"), BASELINE)
    assert answer["ok"] is False and "TABLE_NOT_FOUND" in answer["error"]
    assert metrics == {"DriftCheckFailed": 1}
