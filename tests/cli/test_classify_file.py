"""``headlines classify --input``: a file scored through the real serving container (AWS's MXNet
serving toolkit behind Multi Model Server) gives exactly one answer per usable line, in order,
equal to the REST API's answers for the same headlines (the local API: front, the unchanged
Lambda handler, the local SageMaker runtime API, the same container)."""
from __future__ import annotations

import csv
import gzip
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_cli_errors import headlines

from headlines.local.api_front import start_local_api

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-api")]

SAMPLE = Path(__file__).resolve().parents[2] / "headlines" / "sample_data" / "newsCorpora-sample.csv.gz"
API_BATCH = 100  # cdk.json headlines.api.max_batch_size
ROUNDING = 1.000001e-6  # one unit of the sixth decimal inference.py rounds to


def sample_headlines(count: int) -> list:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        titles = [line.split("\t")[1] for line in handle if line.count("\t") == 7]
    return [f"{titles[i % len(titles)]}" + (f" ({i // len(titles)})" if i >= len(titles) else "") for i in range(count)]


@pytest.fixture(scope="module")
def api(tiny_model_dir, sagemaker_python):
    with start_local_api(tiny_model_dir, workers=2) as running:
        yield running


def api_answers(url: str, texts: list) -> list:
    """The REST API's answers, batches of 100 a few at a time (as callers fan out), in order."""
    def ask(start: int) -> list:
        body = json.dumps({"headlines": texts[start:start + API_BATCH]}).encode()
        request = urllib.request.Request(url + "/v1/classify", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["predictions"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [answer for batch in pool.map(ask, range(0, len(texts), API_BATCH)) for answer in batch]


def classify_file(tmp_path: Path, model_dir: Path, content: bytes, name: str = "headlines.txt", output: str = "out.jsonl"):
    source = tmp_path / name
    source.write_bytes(content)
    result = headlines("classify", "--input", str(source), "--output", str(tmp_path / output), "--model", str(model_dir),
                       "--workers", "2", "--workdir", str(tmp_path / "wd"), timeout=600)
    return result, tmp_path / output


def same_answer(bulk: dict, rest: dict) -> bool:
    """The same category and label, the same scores to the container's six decimals. MXNet's
    float32 arithmetic depends on how many rows a batch has (a request of 100 against one of
    1,000), so about one headline in twenty thousand gets a score one unit of the sixth decimal
    apart; the REST API's answers to requests of different sizes differ the same way."""
    return (bulk["category"] == rest["category"] and bulk["label"] == rest["label"]
            and abs(bulk["confidence"] - rest["confidence"]) <= ROUNDING
            and bulk["scores"].keys() == rest["scores"].keys()
            and all(abs(bulk["scores"][name] - rest["scores"][name]) <= ROUNDING for name in rest["scores"]))


def check_equal_to_the_api(tmp_path, tiny_model_dir, api, count):
    texts = sample_headlines(count)
    result, output = classify_file(tmp_path, tiny_model_dir, "".join(text + "\n" for text in texts).encode())
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["line"] for record in records] == list(range(1, count + 1))
    assert [record["headline"] for record in records] == texts
    rest = api_answers(api.url, texts)
    assert len(rest) == count
    assert all(same_answer(bulk, answer) for bulk, answer in zip(records, rest))
    exact = sum(bulk[key] == answer[key] for bulk, answer in zip(records, rest) for key in ("confidence", "scores"))
    assert exact >= 2 * count * 0.999  # all but a handful to the last digit
    assert f"scored {count:,} headlines" in result.stderr


def test_a_file_gets_the_rest_apis_answers_line_for_line(tmp_path, tiny_model_dir, api):
    check_equal_to_the_api(tmp_path, tiny_model_dir, api, 3_000)
    # ... and each answer is recorded as a live result with source=batch (issue #26)
    spooled = [json.loads(line) for path in (tmp_path / "wd" / "results" / "spool").glob("*.jsonl")
               for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(spooled) == 3_000 and {record["source"] for record in spooled} == {"batch"}
    assert sorted(record["headline"] for record in spooled) == sorted(sample_headlines(3_000))


def test_100000_headlines_get_the_rest_apis_answers_line_for_line(tmp_path, tiny_model_dir, api):
    check_equal_to_the_api(tmp_path, tiny_model_dir, api, 100_000)


def test_bad_rows_are_skipped_and_reported_with_their_lines(tmp_path, tiny_model_dir):
    content = (b"Fed raises rates\n\n" + "caf\u00e9".encode("latin-1") + b"\n" + b"x" * (1 << 20) + b"\n"
               + b"Ebola spreads\n")
    result, output = classify_file(tmp_path, tiny_model_dir, content, output="out.csv")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert [line.split(":")[2] for line in warnings] == ["2", "3", "4"]
    assert all("headlines.txt" in line for line in warnings)
    with output.open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["line"], row["headline"]) for row in table] == [("1", "Fed raises rates"), ("5", "Ebola spreads")]
    assert set(table[0]) >= {"category", "label", "confidence", "score_business", "model_version"}
    assert "3 bad rows skipped" in result.stderr


def test_a_file_with_no_usable_row_is_an_error_and_no_output(tmp_path, tiny_model_dir):
    result, output = classify_file(tmp_path, tiny_model_dir, b"\n   \n" + b"\xff\xfe\n", output="out.csv")
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "headlines.txt:1: empty headline: no headline could be scored (3 bad rows" in error[0]
    assert not output.exists() and not list(tmp_path.glob(".out.csv*"))


def test_ctrl_c_leaves_nothing_under_the_output_name(tmp_path, tiny_model_dir):
    import signal
    import subprocess
    import sys
    import time

    source = tmp_path / "headlines.txt"
    source.write_text("".join(text + "\n" for text in sample_headlines(200_000)), encoding="utf-8")
    output = tmp_path / "out.csv"
    process = subprocess.Popen([sys.executable, "-m", "headlines.cli", "classify", "--input", str(source), "--output",
                                str(output), "--model", str(tiny_model_dir), "--workers", "1",
                                "--workdir", str(tmp_path / "wd")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # A shell's background job (make test &) ignores SIGINT, and a child
                               # inherits that: Ctrl-C as a terminal sends it.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".out.csv.partial-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()
    time.sleep(1)  # some answers written
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and stderr.strip().splitlines()[-1] == "interrupted", stderr
    assert not output.exists() and not list(tmp_path.glob(".out.csv*"))
