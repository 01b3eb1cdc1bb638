"""``headlines classify --input``: a file scored through the real serving container (AWS's MXNet
serving toolkit behind Multi Model Server) gives exactly one answer per usable line, in order,
equal to the REST API's answers for the same headlines (the local API: front, the unchanged
Lambda handler, the local SageMaker runtime API, the same container)."""
from __future__ import annotations

import csv
import gzip
import json
import urllib.request
from pathlib import Path

import pytest
from test_cli_errors import headlines

from headlines.local.api_front import start_local_api

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-api")]

SAMPLE = Path(__file__).resolve().parents[2] / "headlines" / "sample_data" / "newsCorpora-sample.csv.gz"
API_BATCH = 100  # cdk.json headlines.api.max_batch_size


def sample_headlines(count: int) -> list:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        titles = [line.split("\t")[1] for line in handle if line.count("\t") == 7]
    return [f"{titles[i % len(titles)]}" + (f" ({i // len(titles)})" if i >= len(titles) else "") for i in range(count)]


@pytest.fixture(scope="module")
def api(tiny_model_dir, sagemaker_python):
    with start_local_api(tiny_model_dir, workers=1) as running:
        yield running


def api_answers(url: str, texts: list) -> list:
    answers = []
    for start in range(0, len(texts), API_BATCH):
        body = json.dumps({"headlines": texts[start:start + API_BATCH]}).encode()
        request = urllib.request.Request(url + "/v1/classify", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answers.extend(json.loads(response.read())["predictions"])
    return answers


def classify_file(tmp_path: Path, model_dir: Path, content: bytes, name: str = "headlines.txt", output: str = "out.jsonl"):
    source = tmp_path / name
    source.write_bytes(content)
    result = headlines("classify", "--input", str(source), "--output", str(tmp_path / output), "--model", str(model_dir),
                       "--workers", "2", timeout=600)
    return result, tmp_path / output


def same_answer(bulk: dict, rest: dict) -> bool:
    return all(bulk[key] == rest[key] for key in ("category", "label", "confidence", "scores"))


def check_equal_to_the_api(tmp_path, tiny_model_dir, api, count):
    texts = sample_headlines(count)
    result, output = classify_file(tmp_path, tiny_model_dir, "".join(text + "\n" for text in texts).encode())
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["line"] for record in records] == list(range(1, count + 1))
    assert [record["headline"] for record in records] == texts
    rest = api_answers(api.url, texts)
    assert all(same_answer(bulk, answer) for bulk, answer in zip(records, rest))
    assert f"scored {count:,} headlines" in result.stderr


def test_a_file_gets_the_rest_apis_answers_line_for_line(tmp_path, tiny_model_dir, api):
    check_equal_to_the_api(tmp_path, tiny_model_dir, api, 3_000)


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
    assert "no headline could be scored" in [line for line in result.stderr.splitlines() if line.startswith("error:")][0]
    assert not output.exists() and [path.name for path in tmp_path.iterdir()] == ["headlines.txt"]
