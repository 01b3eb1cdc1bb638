"""The dashboard's routes on the local API front (headlines/local/dashboard.py): the page and
its files with the API page's security headers, the data, and a broken store as a 503."""
from __future__ import annotations

import json

import pytest

from headlines.file_modules import load_lambda
from headlines.local.dashboard import Dashboard
from headlines.results.store import Store

record_module = load_lambda("api", "results_record")
sink_module = load_lambda("api", "results_sink")
CSP = load_lambda("api", "page").CONTENT_SECURITY_POLICY


@pytest.fixture
def dashboard(tmp_path):
    store = Store(tmp_path / "results")
    sink = sink_module.SpoolSink(str(store.spool))
    sink.put([record_module.build({"category": "health", "label": "m", "confidence": 0.35,
                                   "scores": {"business": 0.2, "science_technology": 0.2, "entertainment": 0.25,
                                              "health": 0.35}},
                                  headline=f"Flu {n}", request_id=f"r{n}", source="api", model_version="v1",
                                  latency_ms=1.0) for n in range(3)])
    model = tmp_path / "model"
    model.mkdir()
    (model / "metrics.json").write_text(json.dumps({"data": {"category_mix": {"business": 0.5, "health": 0.5}}}))
    return Dashboard(store, model)


@pytest.mark.parametrize("path, media", [("/dashboard", "text/html"), ("/dashboard/", "text/html"),
                                         ("/dashboard/static/dashboard.js", "text/javascript"),
                                         ("/dashboard/static/dashboard.css", "text/css"),
                                         ("/dashboard/static/chart.umd.min.js", "text/javascript")])
def test_the_page_and_its_files_carry_the_pages_security_headers(dashboard, path, media):
    status, headers, body = dashboard.answer("GET", path)
    assert status == 200 and headers["Content-Type"].startswith(media) and body
    assert headers["Content-Security-Policy"] == CSP and headers["X-Frame-Options"] == "DENY"


def test_the_data_is_the_stores_summary_and_queries(dashboard):
    status, headers, body = dashboard.answer("GET", "/dashboard/data")
    data = json.loads(body)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert data["summary"]["by_category"]["health"] == 3 and data["summary"]["low_confidence"]["records"] == 3
    assert data["summary"]["drift"]["category_distance"] == 0.5
    assert len(data["latest"]) == 3 and data["most_uncertain_headlines"][0]["confidence"] == 0.35
    assert {"category_mix_per_hour", "confidence_distribution", "low_confidence_share_per_model_version"} <= set(data)


@pytest.mark.parametrize("method, path, status", [("POST", "/dashboard/data", 405), ("GET", "/dashboard/nope", 404),
                                                  ("GET", "/dashboard/static/../../cdk.json", 404)])
def test_other_requests_are_json_errors(dashboard, method, path, status):
    answer_status, headers, body = dashboard.answer(method, path)
    assert answer_status == status and json.loads(body)["error"]["code"]


def test_a_broken_store_is_a_503_with_the_reason(dashboard):
    dashboard.store.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    dashboard.store.manifest_path.write_text("{broken")
    status, _, body = dashboard.answer("GET", "/dashboard/data")
    assert status == 503 and "manifest.json" in json.loads(body)["error"]["message"]
    assert Dashboard.handles("/dashboard") and Dashboard.handles("/dashboard/data") and not Dashboard.handles("/dashboards")


def test_the_spool_is_compacted_in_the_background_while_the_api_serves(dashboard):
    import time

    from headlines.local.dashboard import compact_in_background

    stop = compact_in_background(dashboard.store, every=0.05)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not dashboard.store.manifest().rows:
            time.sleep(0.05)
    finally:
        stop()
    assert dashboard.store.manifest().rows == 3
