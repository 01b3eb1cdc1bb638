"""``headlines feed``: the feed Lambda's code run locally, through a local SageMaker runtime API
(here a stand-in that answers the model's contract, so no model server starts), recording into
the work directory's store, which ``headlines results summary`` then counts."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from headlines.cli.commands import main
from headlines.local.serving_state import STATE_FILE, ServingState, read_state, write_state
from headlines.project import ROOT

SAMPLE_RSS = ROOT / "headlines" / "sample_data" / "sample-feed.xml"
SAMPLE_ATOM = ROOT / "headlines" / "sample_data" / "sample-feed.atom"
CATEGORIES = [("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health")]


@pytest.fixture()
def runtime_api():
    """InvokeEndpoint (POST /endpoints/<name>/invocations) answering the model's contract:
    the category is picked by the headline's length, so the counts are known."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(body["headlines"])
            predictions = []
            for text in body["headlines"]:
                code, name = CATEGORIES[len(text) % 4]
                predictions.append({"category": name, "label": code, "confidence": 0.75,
                                    "scores": {n: (0.75 if n == name else 0.25 / 3) for _, n in CATEGORIES}})
            answer = json.dumps({"predictions": predictions, "model": {"version": "feedtest0001"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()


@pytest.fixture()
def serving(tmp_path, runtime_api):
    url, calls = runtime_api
    write_state(tmp_path / STATE_FILE, ServingState("http://127.0.0.1:1", url, "headlines", "feedtest0001", os.getpid()))
    return tmp_path, calls


def summary(workdir, capsys):
    capsys.readouterr()
    assert main(["results", "summary", "--json", "--workdir", str(workdir)]) == 0
    return json.loads(capsys.readouterr().out)


def expected_categories(*files):
    import importlib

    from headlines.file_modules import load_lambda

    load_lambda("api", "feed_run")
    reader = importlib.import_module("feed_reader")
    counts: dict = {}
    for path in files:
        for item in reader.parse(path.read_bytes(), reader.FeedLimits()).items:
            name = CATEGORIES[len(item.title) % 4][1]
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_feed_records_each_new_item_once_and_summary_counts_them(serving, capsys):
    workdir, calls = serving
    assert main(["feed", str(SAMPLE_RSS), str(SAMPLE_ATOM), "--workdir", str(workdir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"feed {SAMPLE_RSS}: 16 new, 0 seen before", f"feed {SAMPLE_ATOM}: 4 new, 0 seen before"]
    result = summary(workdir, capsys)
    assert result["records"] == 20 and result["by_source"] == {"feed": 20}
    assert result["by_category"] == expected_categories(SAMPLE_RSS, SAMPLE_ATOM)
    # again: nothing new, nothing recorded twice
    assert main(["feed", str(SAMPLE_RSS), "--workdir", str(workdir)]) == 0
    assert capsys.readouterr().out.strip() == f"feed {SAMPLE_RSS}: 0 new, 16 seen before"
    assert summary(workdir, capsys)["records"] == 20
    assert sum(len(batch) for batch in calls) == 20


def test_the_records_carry_feed_link_and_source(serving, capsys):
    workdir, _ = serving
    assert main(["feed", str(SAMPLE_ATOM), "--workdir", str(workdir)]) == 0
    capsys.readouterr()
    sql = "SELECT source, feed, link, headline, model_version FROM results ORDER BY link"
    assert main(["results", "query", sql, "--json", "--workdir", str(workdir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["source"] for row in rows} == {"feed"} and {row["feed"] for row in rows} == {str(SAMPLE_ATOM)}
    assert rows[0]["link"] == "https://example.com/atom/business/stocks-higher"
    assert {row["model_version"] for row in rows} == {"feedtest0001"}


def test_a_bad_feed_is_one_line_the_others_are_recorded_and_the_exit_status_says_so(serving, tmp_path, capsys):
    workdir, _ = serving
    bad = tmp_path / "page.html"
    bad.write_text("<html><body>not a feed")
    assert main(["feed", str(bad), str(tmp_path / "missing.xml"), str(SAMPLE_ATOM), "--workdir", str(workdir)]) == 1
    out = capsys.readouterr()
    assert out.out.strip() == f"feed {SAMPLE_ATOM}: 4 new, 0 seen before"
    errors = out.err.strip().splitlines()
    assert errors[0].startswith(f"feed {bad}: error: not well-formed XML")
    assert errors[1].startswith(f"feed {tmp_path / 'missing.xml'}: error: cannot read the file")
    assert summary(workdir, capsys)["records"] == 4


def test_without_a_running_endpoint_it_is_one_error_line(tmp_path, capsys):
    assert main(["feed", str(SAMPLE_RSS), "--workdir", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no local endpoint runs for") and "headlines serve" in err and "\n" not in err


def test_an_endpoint_that_fails_releases_the_items(tmp_path, capsys):
    write_state(tmp_path / STATE_FILE, ServingState("http://127.0.0.1:1", "http://127.0.0.1:9", "headlines", None, os.getpid()))
    assert main(["feed", str(SAMPLE_ATOM), "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"feed {SAMPLE_ATOM}: error: 0 new items recorded, 4 not (tried again next run)")


def test_a_state_file_of_a_dead_process_is_ignored(tmp_path):
    write_state(tmp_path / STATE_FILE, ServingState("a", "b", "c", None, 2 ** 22 + 12345))
    assert read_state(tmp_path / STATE_FILE) is None
