"""``headlines results summary|query|export`` on a store made here: the figures, the files
written (under a temporary name, then renamed), and bad input as one ``error:`` line."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import duckdb
import pytest

from headlines.file_modules import load_lambda
from headlines.results.store import default_store

sink_module = load_lambda("api", "results_sink")
record_module = load_lambda("api", "results_record")


def prediction(category, label, confidence):
    rest = (1 - confidence) / 3
    scores = {name: rest for name in ("business", "science_technology", "entertainment", "health")}
    scores[category] = confidence
    return {"category": category, "label": label, "confidence": confidence, "scores": scores}


@pytest.fixture
def workdir(tmp_path):
    sink = sink_module.SpoolSink(str(default_store(tmp_path).spool))
    rows = [("business", "b", 0.9, "api"), ("business", "b", 0.3, "api"), ("health", "m", 0.8, "batch"),
            ("entertainment", "e", 0.45, "feed")]
    sink.put([record_module.build(prediction(c, label, conf), headline=f"headline {n}", request_id=f"r{n}", source=source,
                                  model_version="v1", latency_ms=2.0, when=1_700_000_000 + n,
                                  feed="https://example.com/rss" if source == "feed" else None)
              for n, (c, label, conf, source) in enumerate(rows)])
    sink.close()
    return tmp_path


def headlines(*args):
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True, timeout=120)


def one_error(result):
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def test_summary_counts_per_category_source_and_model(workdir):
    result = headlines("results", "summary", "--json", "--workdir", str(workdir))
    summary = json.loads(result.stdout)
    assert summary["records"] == 4
    assert summary["by_category"] == {"business": 2, "science_technology": 0, "entertainment": 1, "health": 1}
    assert summary["by_source"] == {"api": 2, "batch": 1, "feed": 1}
    assert summary["low_confidence"] == {"below": 0.5, "records": 2, "share": 0.5}
    assert summary["by_model_version"][0]["model_version"] == "v1"
    text = headlines("results", "summary", "--workdir", str(workdir)).stdout
    assert "4 records" in text and "business" in text


def test_summary_since_leaves_older_records_out(workdir):
    result = headlines("results", "summary", "--json", "--since", "2023-11-14T22:13:22", "--workdir", str(workdir))
    assert json.loads(result.stdout)["records"] == 2
    assert json.loads(headlines("results", "summary", "--json", "--since", "1h", "--workdir", str(workdir)).stdout)["records"] == 0


def test_query_runs_sql_over_the_results_table(workdir):
    result = headlines("results", "query", "SELECT category, count(*) AS n FROM results GROUP BY 1 ORDER BY 1",
                       "--json", "--workdir", str(workdir))
    assert json.loads(result.stdout) == [{"category": "business", "n": 2}, {"category": "entertainment", "n": 1},
                                         {"category": "health", "n": 1}]
    plain = headlines("results", "query", "SELECT count(*) AS n FROM results", "--workdir", str(workdir)).stdout
    assert plain.splitlines() == ["n", "4"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_every_record(workdir, tmp_path, fmt):
    output = tmp_path / "out" / f"results.{fmt}"
    result = headlines("results", "export", "--format", fmt, "--output", str(output), "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    assert "4 records" in result.stdout and not list(output.parent.glob(".*"))
    if fmt == "csv":
        rows = list(csv.DictReader(output.open()))
        assert len(rows) == 4 and rows[0]["score_business"] == "0.9" and "scores" not in rows[0]
    else:
        assert duckdb.connect().execute(f"SELECT count(*), count(DISTINCT request_id) FROM '{output}'").fetchone() == (4, 4)


@pytest.mark.parametrize("args, message", [
    (["summary", "--since", "last week"], "--since 'last week': expected a duration"),
    (["query", "SELECT nothing FROM nowhere"], "the query failed: Catalog Error"),
    (["query", "SELEC 1"], "the query failed: Parser Error"),
])
def test_bad_input_is_one_error_line(workdir, args, message):
    result = headlines("results", *args, "--workdir", str(workdir))
    assert message in one_error(result) and result.returncode == 2


def test_export_into_a_folder_is_one_error_line(workdir):
    result = headlines("results", "export", "--format", "csv", "--output", str(workdir), "--workdir", str(workdir))
    assert "is a folder" in one_error(result)


def test_a_broken_store_is_one_error_line(workdir):
    (workdir / "results" / "manifest.json").write_text("{not json")
    result = headlines("results", "summary", "--workdir", str(workdir))
    assert "manifest.json" in one_error(result) and result.returncode == 1


def test_results_commands_start_without_the_training_pipeline(workdir):
    code = ("import sys\nfrom headlines import cli\n"
            f"cli.main(['results', 'summary', '--json', '--workdir', {str(workdir)!r}])\n"
            "print(sorted(name for name in ('gensim', 'mxnet', 'headlines.local.pipeline') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr
