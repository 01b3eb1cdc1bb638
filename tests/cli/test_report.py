"""``headlines report``: the HTML page and its PNG figures, from a real tiny model."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from headlines.analysis import report

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tiny-model")]
MEMBER_HISTORY = [{"epoch": epoch, "train_loss": 1.0 / epoch, "validation_accuracy": 0.6 + 0.05 * epoch,
                   "validation_macro_f1": 0.5 + 0.05 * epoch, "seconds": 1.5} for epoch in (1, 2, 3)]


def headlines(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headlines.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def model_with_history(tiny_model_dir, tmp_path) -> Path:
    """The tiny model with per-epoch history in metrics.json, in the format train.py writes it."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    metrics = json.loads((model / "metrics.json").read_text())
    metrics["history"] = {"textcnn-0": MEMBER_HISTORY, "linear-1": MEMBER_HISTORY[:2]}
    (model / "metrics.json").write_text(json.dumps(metrics))
    return model


def images(index: Path):
    return re.findall(r"<img src='([^']+)'", index.read_text())


def test_report_draws_every_figure(model_with_history, tiny_training, tiny_news, tmp_path):
    out = tmp_path / "report"
    vectors = report.latest_vectors(tiny_training.model_dir.parent)
    result = headlines("report", "--model", str(model_with_history), "--out", str(out), "--data", str(tiny_news),
                       "--vectors", str(vectors))
    assert result.returncode == 0, result.stderr
    index = out / "index.html"
    assert str(index) in result.stderr
    assert images(index) == ["curves.png", "confusion.png", "per_class.png", "confidence.png", "neighbours.png"]
    for name in images(index):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 400 and image.height > 200
            assert len(image.getcolors(1 << 20) or range(1 << 20)) > 20  # drawn on, not blank
    page = index.read_text()
    assert tiny_training.metrics["model_version"] in page
    assert "held-out test headlines" in page  # the training file: its test stories were scored again
    assert page.count("<tr>") > 15  # per-class rows, the errors, the neighbours
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model", "report"]  # no staging left


def test_a_model_without_history_says_so(tiny_training, tiny_news, tmp_path):
    older = shutil.copytree(tiny_training.model_dir, tmp_path / "older-model")  # trained before history was kept
    metrics = json.loads((older / "metrics.json").read_text())
    del metrics["history"]
    (older / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "report"
    index = report.write_report(older, out, data=tiny_news, vectors=None)
    page = index.read_text()
    assert "no per-epoch history in this model" in page
    assert "curves.png" not in images(index) and not (out / "curves.png").exists()
    assert "no word vectors found" in page
    assert "confusion.png" in images(index)


def test_defaults_are_the_workdirs_model_and_vectors(tiny_training, tmp_path):
    workdir = tiny_training.model_dir.parent
    out = tmp_path / "report"
    result = headlines("report", "--workdir", str(workdir), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text()
    assert "neighbours.png" in images(out / "index.html")
    # The tiny model was trained on a file outside the workdir: the page says how to name it.
    assert "pass --data FILE" in page
    # Run again: the previous report is replaced.
    assert headlines("report", "--workdir", str(workdir), "--out", str(out)).returncode == 0


def test_a_file_it_was_not_trained_on_is_scored_whole(tiny_training, tiny_news, tmp_path):
    part = tmp_path / "part.csv"
    part.write_text("".join(tiny_news.read_text(encoding="utf-8").splitlines(keepends=True)[:400]), encoding="utf-8")
    index = report.write_report(tiny_training.model_dir, tmp_path / "report", data=part)
    assert "all 400 headlines of" in index.read_text()


@pytest.mark.parametrize("case", ["out is another folder", "missing vectors", "missing data", "no model"])
def test_bad_input_is_one_error_line(case, tiny_training, tiny_news, tmp_path):
    args = ["report", "--model", str(tiny_training.artifact), "--data", str(tiny_news), "--out", str(tmp_path / "r")]
    if case == "out is another folder":
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep me")
        args[-1], expected = str(tmp_path / "mine"), "is not a headlines report"
    elif case == "missing vectors":
        args, expected = args + ["--vectors", str(tmp_path / "vectors.txt")], "no such word-vector file"
    elif case == "missing data":
        args[4], expected = str(tmp_path / "nope.csv"), "no such file"
    else:
        args, expected = ["report", "--workdir", str(tmp_path / "empty")], "no model in"
    result = headlines(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    if case == "out is another folder":
        assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".r.*"))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine: the page is not rendered")
def test_the_page_renders_with_its_figures_in_a_headless_browser(model_with_history, tiny_news, tmp_path,
                                                                 publish_screenshot, monkeypatch):
    """The report in headless chromium; its screenshot is the docs' (docs/images/report.png).
    Relative paths: the page names the model and data files, and a temporary folder's name
    would move the whole layout from one run to the next."""
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(tiny_news, tmp_path / tiny_news.name)
    index = tmp_path / report.write_report(Path(model_with_history.name), Path("report"), data=Path(tiny_news.name))
    screenshot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={screenshot}", "--window-size=1200,2400",
                    index.as_uri()], capture_output=True, timeout=120, check=True)
    with Image.open(screenshot) as image:
        # Text alone renders in under a thousand colours; the figures' colour maps and
        # anti-aliased lines bring thousands (measured: 775 without the PNGs, 5,098 with).
        assert len(image.convert("RGB").getcolors(1 << 24)) > 2500
    publish_screenshot(screenshot)
