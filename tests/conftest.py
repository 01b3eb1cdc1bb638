"""Shared fixtures: small real data cut from the shipped sample, a tiny real model trained
through the same local pipeline users run (one epoch, a small corpus), and the screenshots
the documentation embeds, which the tests that drive the real page and report write."""
from __future__ import annotations

import gzip
import itertools
import shutil
from pathlib import Path
from typing import Callable

import pytest
from rich.console import Console

from headlines.config import load_config
from headlines.local.sources import SAMPLE_CORPUS, SAMPLE_NEWS

TINY_NEWS_ROWS = 3000
TINY_CORPUS_WORDS = 300_000

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
#: The screenshots docs/ embeds (docs/images/<name>), and the test file that writes each.
DOCS_SCREENSHOTS = {
    "page-wide.png": "tests/browser/test_page_in_browser.py",
    "page-error.png": "tests/browser/test_page_in_browser.py",
    "page-api-key.png": "tests/browser/test_page_in_browser.py",
    "report.png": "tests/cli/test_report.py",
    "dashboard.png": "tests/browser/test_dashboard_in_browser.py",
}
#: A new screenshot replaces the committed one when its size differs or more than this share of
#: its pixels changed: a change to the page shows up in `git status`; the tiny test model's
#: version hash or a metric's last digit (a few hundred pixels) does not.
VISIBLE_CHANGE = 0.005


def changed_pixels(old: Path, new: Path) -> float:
    """The share of pixels that differ (1.0 when the sizes differ)."""
    from PIL import Image, ImageChops

    with Image.open(old) as before, Image.open(new) as after:
        if before.size != after.size:
            return 1.0
        difference = ImageChops.difference(before.convert("RGB"), after.convert("RGB")).convert("L")
        changed = sum(difference.point(lambda value: 255 if value > 16 else 0).histogram()[255:])
        return changed / (before.size[0] * before.size[1])


@pytest.fixture(scope="session")
def docs_screenshots() -> dict:
    return dict(DOCS_SCREENSHOTS)


@pytest.fixture(scope="session")
def publish_screenshot() -> Callable[[Path], bool]:
    """``publish(path)``: a screenshot the docs embed (its name in DOCS_SCREENSHOTS) replaces
    docs/images/<name> when it changed visibly (VISIBLE_CHANGE); True when it did."""

    def publish(path: Path) -> bool:
        assert path.name in DOCS_SCREENSHOTS, f"{path.name} is not one of the docs' screenshots"
        target = DOCS_IMAGES / path.name
        if target.is_file() and changed_pixels(target, path) <= VISIBLE_CHANGE:
            return False
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return True

    return publish


@pytest.fixture(scope="session")
def tiny_news(tmp_path_factory) -> Path:
    """The first rows of the shipped News Aggregator sample (UCI tab-separated format)."""
    path = tmp_path_factory.mktemp("data") / "newsCorpora-tiny.csv"
    with gzip.open(SAMPLE_NEWS, "rt", encoding="utf-8", newline="") as source:
        path.write_text("".join(itertools.islice(source, TINY_NEWS_ROWS)), encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The first words of the shipped public-domain text8-style corpus."""
    path = tmp_path_factory.mktemp("corpus") / "corpus-tiny.txt"
    with gzip.open(SAMPLE_CORPUS, "rt", encoding="utf-8") as source:
        text = source.read(TINY_CORPUS_WORDS * 6)
    path.write_text(" ".join(text.split()[:TINY_CORPUS_WORDS]), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory, tiny_news, tiny_corpus, sagemaker_python):
    """A real model, trained by the local pipeline on tiny data (about 15 s). The pipeline runs
    AWS's training toolkit in the Python 3.8 environment, so this skips where that is absent."""
    from headlines.local.pipeline import train

    workdir = tmp_path_factory.mktemp("workdir")
    return train(load_config(), workdir=workdir, data=str(tiny_news), corpus=str(tiny_corpus),
                 overrides={"epochs": 1}, console=Console(quiet=True))


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_training) -> Path:
    """The unpacked model artifact (model-symbol.json, ..., code/inference.py)."""
    return tiny_training.model_dir


@pytest.fixture(scope="session")
def sagemaker_python() -> Path:
    """The SageMaker-shaped Python 3.8 environment (AWS's container toolkits); the parity
    tests skip with one line saying why only where it cannot be built (no Python 3.8)."""
    from headlines.local import container_env

    reason = container_env.available()
    if reason:
        pytest.skip(reason)
    return container_env.python()
