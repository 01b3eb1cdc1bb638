"""The handler records one result record per classified headline (functions/api/results_recorder.py),
single and batch, text or keyed hash, and a broken store never fails an answer: the records
are counted as dropped (the ``ResultsDropped`` metric in AWS)."""
from __future__ import annotations

import hashlib
import hmac
import io
import json

from api_support import invoke, load_app, make_event
from botocore.response import StreamingBody
from botocore.stub import Stubber

PREDICTIONS = [
    {"label": "b", "category": "business", "confidence": 0.7,
     "scores": {"business": 0.7, "science_technology": 0.1, "entertainment": 0.1, "health": 0.1}},
    {"label": "m", "category": "health", "confidence": 0.4,
     "scores": {"business": 0.2, "science_technology": 0.2, "entertainment": 0.2, "health": 0.4}},
]


def classify(module, body, predictions, request_id="req-7"):
    answer = json.dumps({"predictions": predictions, "model": {"version": "v9"}}).encode()
    with Stubber(module.runtime) as stub:
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(answer), len(answer))})
        return invoke(module, make_event(body=body, request_id=request_id))


def spooled(directory):
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_single_and_batch_answers_are_recorded_one_record_per_headline(tmp_path):
    module = load_app(RESULTS_DIR=str(tmp_path))
    assert classify(module, {"headline": "Stocks rally"}, PREDICTIONS[:1], "one").status == 200
    assert classify(module, {"headlines": ["Stocks fall", "Flu spreads"]}, PREDICTIONS, "two").status == 200
    records = spooled(tmp_path)
    assert [(r["request_id"], r["headline"], r["category"], r["confidence"]) for r in records] == [
        ("one", "Stocks rally", "business", 0.7), ("two", "Stocks fall", "business", 0.7),
        ("two", "Flu spreads", "health", 0.4)]
    assert {r["source"] for r in records} == {"api"} and {r["model_version"] for r in records} == {"v9"}
    assert all(r["latency_ms"] >= 0 and r["headline_hash"] is None for r in records)


def test_without_stored_text_the_record_holds_the_keyed_hash(tmp_path):
    key_file = tmp_path / "hash.key"
    module = load_app(RESULTS_DIR=str(tmp_path / "spool"), RESULTS_STORE_TEXT="false", RESULTS_HASH_KEY_FILE=str(key_file))
    assert classify(module, {"headline": "Stocks rally"}, PREDICTIONS[:1]).status == 200
    (record,) = spooled(tmp_path / "spool")
    key = bytes.fromhex(key_file.read_text())
    assert record["headline"] is None
    assert record["headline_hash"] == "hmac-sha256:" + hmac.new(key, b"Stocks rally", hashlib.sha256).hexdigest()
    assert "Stocks rally" not in next((tmp_path / "spool").glob("*.jsonl")).read_text()


def test_without_a_key_nothing_is_recorded_and_the_records_are_counted(tmp_path):
    module = load_app(RESULTS_DIR=str(tmp_path), RESULTS_STORE_TEXT="false")
    assert classify(module, {"headlines": ["a b", "c d"]}, PREDICTIONS).status == 200
    assert spooled(tmp_path) == [] and module.recorder.sink.dropped == 2


def test_a_broken_store_never_fails_an_answer_and_counts_the_drops(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    module = load_app(RESULTS_DIR=str(blocker / "spool"), POWERTOOLS_METRICS_DISABLED="false")
    answer = classify(module, {"headlines": ["Stocks fall", "Flu spreads"]}, PREDICTIONS)
    assert answer.status == 200 and len(answer.json["predictions"]) == 2
    assert module.recorder.sink.dropped == 2
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [line["ResultsDropped"] for line in emf if "ResultsDropped" in line] in ([2.0], [[2.0]])


def test_no_variable_no_recording(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = load_app()
    assert not module.recorder.enabled
    assert classify(module, {"headline": "Stocks rally"}, PREDICTIONS[:1]).status == 200
    assert list(tmp_path.iterdir()) == []
