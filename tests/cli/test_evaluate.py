"""``headlines evaluate``: a real tiny model, scored through its own serving code."""
from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from headlines.analysis import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tiny-model")]
CSV_HEADER = ("ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP")


def headlines(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True, timeout=300)


def held_out_test_rows(model_dir: Path, news: Path):
    """The test side of the split the model was trained with (its own seed and fractions)."""
    hyperparameters = json.loads((model_dir / "metrics.json").read_text())["hyperparameters"]
    rows = evaluate.load_rows(news).rows
    return evaluate.news_data().make_split(rows, hyperparameters["split"], hyperparameters["validation_fraction"],
                                           hyperparameters["test_fraction"], hyperparameters["seed"]).test


def write_csv_with_header(rows, path: Path) -> Path:
    """The comma-separated distribution of the dataset (quoted, with a header)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for number, row in enumerate(rows):
            writer.writerow((number, row.title, "http://example.com/", "publisher", row.label, row.story,
                             "example.com", "1394470370698"))
    return path


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_scoring_the_held_out_stories_gives_the_metrics_training_wrote(tiny_training, tiny_news, tmp_path):
    """The artifact's inference.py, scored on the same test headlines in the other file format,
    reproduces train.py's own test metrics: evaluation scores exactly what is served."""
    test_file = write_csv_with_header(held_out_test_rows(tiny_training.model_dir, tiny_news), tmp_path / "test.csv")
    out = tmp_path / "scores.json"
    result = headlines("evaluate", "--model", str(tiny_training.artifact), "--data", str(test_file),
                       "--json", str(out))
    assert result.returncode == 0, result.stderr
    trained = tiny_training.metrics
    scores = json.loads(out.read_text())
    assert scores["data"]["format"] == "csv-with-header"
    assert scores["model"]["version"] == trained["model_version"]
    assert scores["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-12)
    assert scores["macro_f1"] == pytest.approx(trained["macro_f1"], abs=1e-12)
    assert scores["confusion_matrix"] == trained["test"]["confusion_matrix"]
    assert set(scores["per_class"]) == {"business", "science_technology", "entertainment", "health"}
    mistakes = scores["most_confident_errors"]
    assert mistakes and all(m["true"] != m["predicted"] for m in mistakes)
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    printed = result.stdout
    assert f"accuracy {trained['accuracy']:.4f}  macro-F1 {trained['macro_f1']:.4f}" in printed
    for name in ("business", "science_technology", "entertainment", "health"):
        assert name in printed
    assert not list(tmp_path.glob("*.partial"))


def test_an_unpacked_model_folder_and_the_uci_tab_separated_file(tiny_model_dir, tiny_news):
    result = evaluate.evaluate(tiny_model_dir, tiny_news)
    assert result["data"] == {"path": str(tiny_news), "format": "uci-tab-separated", "rows": 3000, "skipped": 0}
    assert result["headlines"] == 3000
    matrix = result["confusion_matrix"]["rows_true_columns_predicted"]
    assert sum(map(sum, matrix)) == 3000
    assert 0.25 < result["accuracy"] <= 1


def test_the_default_model_is_the_workdirs(tiny_training, tiny_news):
    result = headlines("evaluate", "--workdir", str(tiny_training.model_dir.parent), "--data", str(tiny_news))
    assert result.returncode == 0, result.stderr
    assert tiny_training.metrics["model_version"] in result.stdout


def test_a_gzipped_file_is_read_as_train_reads_it(tiny_training, tiny_news, tmp_path):
    packed = tmp_path / "news.csv.gz"
    packed.write_bytes(gzip.compress(tiny_news.read_bytes()))
    result = headlines("evaluate", "--model", str(tiny_training.model_dir), "--data", str(packed),
                       "--workdir", str(tmp_path / "work"))
    assert result.returncode == 0, result.stderr
    plain = headlines("evaluate", "--model", str(tiny_training.model_dir), "--data", str(tiny_news))
    assert result.stdout.splitlines()[1:] == plain.stdout.splitlines()[1:]  # the same scores


@pytest.mark.parametrize("case", ["missing data", "neither format", "missing model", "not a model",
                                  "corrupt tar.gz", "json folder missing", "no model in workdir"])
def test_bad_input_is_one_error_line(case, tiny_training, tiny_news, tmp_path):
    model, data, extra = str(tiny_training.artifact), str(tiny_news), []
    expected = []
    if case == "missing data":
        data, expected = str(tmp_path / "nope.csv"), ["no such file"]
    elif case == "neither format":
        (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n")
        data, expected = str(tmp_path / "bad.csv"), ["not a News Aggregator file"]
    elif case == "missing model":
        model, expected = str(tmp_path / "model.tar.gz"), ["no such model"]
    elif case == "not a model":
        (tmp_path / "folder").mkdir()
        model, expected = str(tmp_path / "folder"), ["not a model artifact"]
    elif case == "corrupt tar.gz":
        (tmp_path / "model.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
        model, expected = str(tmp_path / "model.tar.gz"), ["not a readable model.tar.gz"]
    elif case == "json folder missing":
        extra, expected = ["--json", str(tmp_path / "no" / "scores.json")], ["no such folder"]
    args = ["evaluate", "--model", model, "--data", data, *extra]
    if case == "no model in workdir":
        args, expected = ["evaluate", "--workdir", str(tmp_path), "--data", data], ["no model in"]
    assert_one_error_line(headlines(*args), *expected)


def test_two_models_in_one_process_each_use_their_own_text_module(tiny_model_dir, tmp_path):
    """A notebook comparing two artifacts: each inference.py imports its own headline_text.py."""
    import shutil

    loaded = []
    for name in ("first", "second"):
        shutil.copytree(tiny_model_dir, tmp_path / name)
        model = evaluate.load_model(tmp_path / name)
        loaded.append((name, model))
    for name, model in loaded:
        # The file its code was compiled from (inspect.getfile would look the name up in sys.modules).
        text_module = Path(model.module.Vocabulary.from_json.__code__.co_filename).resolve()
        assert text_module == (tmp_path / name / "code" / "headline_text.py").resolve()
