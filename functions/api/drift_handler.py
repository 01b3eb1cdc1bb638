"""The scheduled drift check (EventBridge -> this Lambda; infra/drift_watch.py).

It asks Athena (the results workgroup, whose configuration is enforced) for the records of the
last ``DRIFT_WINDOW_HOURS`` per category, compares the live mix with the served model's
training mix (``metrics.json`` in the artifact at ``MODEL_DATA_URL``, read once per execution
environment) and publishes the figures as EMF metrics, which the alarms watch
(``drift.py`` computes them). A check that cannot run publishes ``DriftCheckFailed``.

Metric names: ``DRIFT_METRICS`` below (the dashboard and the alarms use the same).
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from drift import baseline_from_artifact, drift_sql, figures

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "headlines-drift")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Headlines")
DRIFT_METRICS = ("DriftRecords", "DriftCategoryDistance", "DriftLowConfidenceShare", "DriftCheckFailed")
QUERY_DEADLINE_SECONDS = 240.0

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_baseline: Dict[str, Optional[Dict[str, float]]] = {}


def training_mix(model_data_url: str, s3: Any) -> Optional[Dict[str, float]]:
    if model_data_url not in _baseline:
        parts = urlsplit(model_data_url)
        body = s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"]
        _baseline[model_data_url] = baseline_from_artifact(body)
    return _baseline[model_data_url]


def run_query(athena: Any, sql: str, database: str, workgroup: str, deadline: float) -> List[Tuple[str, int, int]]:
    """The query's rows; RuntimeError when it fails or outlasts ``deadline`` (monotonic)."""
    execution = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database},
                                             WorkGroup=workgroup)["QueryExecutionId"]
    delay = 0.5
    while True:
        status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"the query {status['State'].lower()}: {status.get('StateChangeReason', '')}"[:300])
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=execution)
            raise RuntimeError("the query did not finish in time")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    rows: List[Tuple[str, int, int]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution):
        for row in page["ResultSet"]["Rows"]:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            if values == ["category", "records", "low_confidence"]:
                continue  # the header row
            rows.append((str(values[0]), int(values[1] or 0), int(values[2] or 0)))
    return rows


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: Any, context: Any) -> Dict[str, Any]:
    environ = os.environ
    window_hours = float(environ.get("DRIFT_WINDOW_HOURS", "24"))
    low = float(environ.get("DRIFT_LOW_CONFIDENCE", "0.5"))
    try:
        baseline = training_mix(environ["MODEL_DATA_URL"], boto3.client("s3"))
        sql = drift_sql(time.time() - window_hours * 3600, low)
        rows = run_query(boto3.client("athena"), sql, environ["RESULTS_DATABASE"], environ["RESULTS_WORKGROUP"],
                         time.monotonic() + QUERY_DEADLINE_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure is one metric and one log line, never a retry storm
        logger.error("the drift check could not run", extra={"error": type(exc).__name__, "detail": str(exc)[:300]})
        metrics.add_metric(name="DriftCheckFailed", unit=MetricUnit.Count, value=1)
        return {"ok": False, "error": str(exc)[:300]}
    result = figures(rows, baseline, int(environ.get("DRIFT_MIN_RECORDS", "100")))
    metrics.add_metric(name="DriftCheckFailed", unit=MetricUnit.Count, value=0)
    metrics.add_metric(name="DriftRecords", unit=MetricUnit.Count, value=result.records)
    if result.category_distance is not None:
        metrics.add_metric(name="DriftCategoryDistance", unit=MetricUnit.NoUnit, value=result.category_distance)
    if result.low_confidence_share is not None:
        metrics.add_metric(name="DriftLowConfidenceShare", unit=MetricUnit.NoUnit, value=result.low_confidence_share)
    summary = {"ok": True, "records": result.records, "category_mix": result.category_mix, "baseline": baseline,
               "category_distance": result.category_distance, "low_confidence_share": result.low_confidence_share}
    logger.info("drift check", extra=summary)
    return summary
