"""Shared fixtures: small real data cut from the shipped sample, and a tiny real model
trained through the same local pipeline users run (one epoch, a small corpus)."""
from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest
from rich.console import Console

from headlines.config import load_config
from headlines.local.sources import SAMPLE_CORPUS, SAMPLE_NEWS

TINY_NEWS_ROWS = 3000
TINY_CORPUS_WORDS = 300_000


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
