"""The local pipeline: the Step Functions pipeline's steps, on this machine.

ingest (the ingest Lambda's code, into the work directory) -> embeddings (the BlazingText
stand-in) -> classifier (``train.py`` from the same ``sourcedir.tar.gz`` SageMaker runs, with
SageMaker's environment variables and ``--name value`` hyperparameters) -> ``model.tar.gz``
(what SageMaker would upload) and its unpacked copy, the current model, in ``<workdir>/model``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from headlines.config import REPO_ROOT, HeadlinesConfig
from headlines.embeddings import train_embeddings
from headlines.file_modules import load_file_module
from headlines.sources import InputError, Resolved, resolve_corpus, resolve_news
from headlines.sourcedir import build_sourcedir

DEFAULT_WORKDIR = Path(os.environ.get("HEADLINES_WORKDIR", ".headlines"))
CURRENT_MODEL = "model"


class PipelineError(Exception):
    """A step that failed; one line for the user."""


@dataclass(frozen=True)
class TrainResult:
    artifact: Path  # model.tar.gz
    model_dir: Path  # its unpacked copy: the current model
    metrics: Dict[str, Any]


def current_model(workdir: Path) -> Optional[Path]:
    model_dir = Path(workdir) / CURRENT_MODEL
    return model_dir if (model_dir / "metrics.json").is_file() else None


@functools.lru_cache(maxsize=None)
def _news_data():
    module = load_file_module("headlines_training_news_data", REPO_ROOT / "training" / "news_data.py")
    module.LOG.setLevel(logging.ERROR)  # _check_news prints the skipped-row count itself
    return module


def _check_news(resolved: Resolved, console: Console, role: str) -> None:
    """Reads the file once up front, so a bad file fails before minutes of embeddings."""
    news_data = _news_data()
    try:
        report = news_data.load_headlines(str(resolved.path))
    except news_data.DataError as error:
        raise InputError(str(error))
    skipped = f", {report.skipped} malformed rows skipped" if report.skipped else ""
    console.print(f"{role}: {len(report.rows):,} headlines ({report.source_format}{skipped}) from {resolved.path}")


def _sha256(path: Path) -> str:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        return sidecar.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def embeddings_step(corpus: Path, workdir: Path, hyperparameters: Mapping[str, Any], console: Console) -> Path:
    """Word vectors for this corpus and these hyperparameters, trained once and cached."""
    key = hashlib.sha256(json.dumps([_sha256(corpus), dict(hyperparameters)], sort_keys=True).encode()).hexdigest()[:16]
    output = workdir / "embeddings" / key
    if (output / "vectors.txt").is_file():
        console.print(f"embeddings: reusing {output / 'vectors.txt'}")
        return output
    epochs = int(hyperparameters.get("epochs", 5))
    columns = (TextColumn("[bold]embeddings (word2vec)"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
               TimeElapsedColumn())
    started = time.time()
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("embeddings", total=epochs)
        result = train_embeddings(corpus, output, hyperparameters,
                                  on_epoch=lambda epoch: progress.update(task, completed=epoch))
    console.print(f"embeddings: {result['words']:,} words x {result['dimension']} in {time.time() - started:.0f} s, "
                  f"WS-353 Spearman rho {result['mean_rho']:.3f} -> {output}")
    return output


def _channel(run_dir: Path, name: str, source: Path) -> Path:
    """A SageMaker-style input channel folder holding (a link to) the data."""
    channel = run_dir / "input" / "data" / name
    channel.mkdir(parents=True, exist_ok=True)
    sources = sorted(source.iterdir()) if source.is_dir() else [source]
    for item in sources:
        link = channel / item.name
        if not link.exists():
            link.symlink_to(item.resolve())
    return channel


def hyperparameter_arguments(hyperparameters: Mapping[str, Any]) -> list:
    """``--name value`` pairs, as SageMaker passes them to a script-mode entry point."""
    arguments = []
    for name, value in hyperparameters.items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        arguments += [f"--{name}", str(value)]
    return arguments


def classifier_step(run_dir: Path, train: Path, embeddings: Path, test: Optional[Path],
                    hyperparameters: Mapping[str, Any], console: Console) -> Path:
    """Runs train.py from the sourcedir tarball, the way SageMaker's MXNet container does."""
    code_dir = run_dir / "code"
    with tarfile.open(build_sourcedir(run_dir / "sourcedir.tar.gz")) as tar:
        tar.extractall(code_dir)
    model_dir = run_dir / "model"
    output_data = run_dir / "output" / "data"
    output_data.mkdir(parents=True, exist_ok=True)
    channels = {"train": _channel(run_dir, "train", train), "embeddings": _channel(run_dir, "embeddings", embeddings)}
    if test is not None:
        channels["test"] = _channel(run_dir, "test", test)
    env = dict(os.environ,
               SM_MODEL_DIR=str(model_dir), SM_OUTPUT_DATA_DIR=str(output_data),
               SM_CHANNELS=json.dumps(sorted(channels)), SM_HPS=json.dumps(dict(hyperparameters)),
               SM_NUM_CPUS=str(os.cpu_count() or 1), SM_NUM_GPUS="0", SM_HOSTS='["algo-1"]',
               SM_CURRENT_HOST="algo-1", PYTHONUNBUFFERED="1")
    env.update({f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()})
    command = [sys.executable, "train.py", *hyperparameter_arguments(hyperparameters)]
    console.print(f"classifier: {' '.join(command[1:])}")
    process = subprocess.Popen(command, cwd=code_dir, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    last_lines = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        if line:
            last_lines = (last_lines + [line])[-20:]
            console.print(f"  [dim]train.py[/] {escape(line)}", highlight=False)
    if process.wait() != 0:
        errors = [line for line in last_lines if line.startswith("error:")]
        raise PipelineError(errors[-1][len("error: "):] if errors else
                            f"train.py failed (exit {process.returncode}): {last_lines[-1] if last_lines else ''}")
    return model_dir


def package_model(model_dir: Path, run_dir: Path, workdir: Path) -> TrainResult:
    """model.tar.gz as SageMaker would upload it, and the unpacked current model."""
    artifact = run_dir / "model.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name)
    current = workdir / CURRENT_MODEL
    staging = workdir / (CURRENT_MODEL + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    shutil.rmtree(current, ignore_errors=True)
    staging.rename(current)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    return TrainResult(artifact, current, metrics)


def train(config: HeadlinesConfig, workdir: Path = DEFAULT_WORKDIR, data: Optional[str] = None,
          test_data: Optional[str] = None, corpus: Optional[str] = None,
          overrides: Optional[Mapping[str, Any]] = None, console: Optional[Console] = None) -> TrainResult:
    console = console or Console(stderr=True)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    news = resolve_news(data, workdir, config, console)
    _check_news(news, console, "training data")
    test = None
    if test_data is not None:
        test = resolve_news(test_data, workdir, config, console)
        _check_news(test, console, "test data")
    text = resolve_corpus(corpus, workdir, config, console)

    embeddings_hp = dict(config.embeddings.hyperparameters)
    vectors = embeddings_step(text.path, workdir, embeddings_hp, console)

    hyperparameters = dict(config.classifier.hyperparameters, vector_dim=embeddings_hp.get("vector_dim", 100))
    hyperparameters.update(overrides or {})
    run_dir = workdir / "runs" / time.strftime("%Y%m%dT%H%M%S")
    suffix = 1
    while run_dir.exists():
        run_dir = run_dir.with_name(f"{run_dir.name.split('-')[0]}-{suffix}")
        suffix += 1
    model_dir = classifier_step(run_dir, news.path, vectors, test.path if test else None, hyperparameters, console)
    return package_model(model_dir, run_dir, workdir)
