"""The local pipeline: the Step Functions pipeline's steps, on this machine.

ingest (the ingest Lambda's code, into the work directory) -> embeddings (the BlazingText
stand-in, packed as BlazingText's ``model.tar.gz``) -> classifier (AWS's SageMaker training
toolkit running ``train.py`` from the same ``sourcedir.tar.gz`` CDK publishes, with the
hyperparameters the state machine passes; headlines.local.training_job) -> ``model.tar.gz`` (what
SageMaker would upload) and its unpacked copy, the current model, in ``<workdir>/model``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from headlines.artifacts import folder_members, replace_folder, write_tar_gz
from headlines.config import HeadlinesConfig
from headlines.file_modules import load_file_module
from headlines.hyperparameters import classifier_hyperparameters
from headlines.local import container_env, training_job
from headlines.local.container_env import ContainerEnvError
from headlines.local.embeddings import package_model as package_blazingtext
from headlines.local.embeddings import train_embeddings
from headlines.local.sources import InputError, Resolved, resolve_corpus, resolve_news
from headlines.project import TRAINING_DIR
from headlines.training_time import FULL_DATASET_ROWS, projected_training_seconds
from headlines.workdir import CURRENT_MODEL, DEFAULT_WORKDIR, current_model  # noqa: F401 - their home before


class PipelineError(Exception):
    """A step that failed; one line for the user."""


@dataclass(frozen=True)
class TrainResult:
    artifact: Path  # model.tar.gz
    model_dir: Path  # its unpacked copy: the current model
    metrics: Dict[str, Any]


@functools.lru_cache(maxsize=None)
def _news_data():
    module = load_file_module("headlines_training_news_data", TRAINING_DIR / "news_data.py")
    module.LOG.setLevel(logging.ERROR)  # _check_news prints the skipped-row count itself
    return module


def _check_news(resolved: Resolved, console: Console, role: str) -> int:
    """Reads the file once up front, so a bad file fails before minutes of embeddings; returns
    its number of usable rows."""
    news_data = _news_data()
    try:
        report = news_data.load_headlines(str(resolved.path))
    except news_data.DataError as error:
        raise InputError(str(error)) from error
    skipped = f", {report.skipped} malformed rows skipped" if report.skipped else ""
    console.print(f"{role}: {len(report.rows):,} headlines ({report.source_format}{skipped}) from {resolved.path}")
    return len(report.rows)


def _say_how_long(rows: int, console: Console) -> None:
    """Up front: the classifier's projected time for this file and for the full dataset here."""
    here = projected_training_seconds(rows)
    full = projected_training_seconds(FULL_DATASET_ROWS)
    console.print(f"classifier: about {_minutes(here)} for {rows:,} rows on a 2-core machine "
                  f"(the full dataset, {FULL_DATASET_ROWS:,} rows: about {_minutes(full)}; projections from "
                  f"bench/scale.py's measured throughput, slower on a busy machine)", highlight=False)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


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
    """BlazingText's ``model.tar.gz`` for this corpus and these hyperparameters, trained once
    and cached (keyed by the corpus' content and the hyperparameters)."""
    key = hashlib.sha256(json.dumps([_sha256(corpus), dict(hyperparameters)], sort_keys=True).encode()).hexdigest()[:16]
    output = workdir / "embeddings" / key
    archive = output / "model.tar.gz"
    if archive.is_file():
        console.print(f"embeddings: reusing {archive}")
        return archive
    epochs = int(hyperparameters.get("epochs", 5))
    columns = (TextColumn("[bold]embeddings (word2vec)"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
               TimeElapsedColumn())
    started = time.time()
    files = output / "files"
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("embeddings", total=epochs)
        result = train_embeddings(corpus, files, hyperparameters,
                                  on_epoch=lambda epoch: progress.update(task, completed=epoch))
    package_blazingtext(files, archive)
    shutil.rmtree(files, ignore_errors=True)
    console.print(f"embeddings: {result['words']:,} words x {result['dimension']} in {time.time() - started:.0f} s, "
                  f"WS-353 Spearman rho {result['mean_rho']:.3f} -> {archive}")
    return archive


def hyperparameter_arguments(hyperparameters: Mapping[str, Any]) -> list:
    """``--name value`` pairs, as SageMaker's training toolkit passes them to train.py (for
    bench/, which runs train.py directly)."""
    arguments = []
    for name, value in hyperparameters.items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        arguments += [f"--{name}", str(value)]
    return arguments


def classifier_step(run_dir: Path, train: Path, embeddings: Path, test: Optional[Path],
                    hyperparameters: Mapping[str, Any], console: Console,
                    instance_type: str = "ml.c5.xlarge") -> Path:
    """The MXNet training job: AWS's training toolkit runs train.py from ``sourcedir.tar.gz``
    under ``run_dir`` laid out as ``/opt/ml``; returns the job's model directory."""
    channels = {"train": train, "embeddings": embeddings}
    if test is not None:
        channels["test"] = test
    job = training_job.prepare(run_dir, hyperparameters, channels, instance_type)
    log = run_dir / training_job.LOG_NAME
    console.print(f"classifier: SageMaker training toolkit (MXNet {training_job.FRAMEWORK}) runs train.py; "
                  f"log: {log}")
    try:
        returncode = training_job.run(job, log, _TrainProgress(console))
    except ContainerEnvError as error:
        raise PipelineError(str(error)) from error
    if returncode != 0:
        raise PipelineError(f"the classifier training job failed: {training_job.failure(job, log)} (full log: {log})")
    return job.model_dir


class _TrainProgress:
    """Turns train.py's output lines into a progress bar and one summary line per member."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(TextColumn("[bold]classifier"), BarColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=console, transient=True,
                                 disable=not console.is_terminal)  # a log gets the summary lines only
        self.task = self.progress.add_task("starting the training toolkit", total=None, start=False)
        self.member: Optional[str] = None
        self.last: Dict[str, str] = {}

    def __enter__(self) -> "_TrainProgress":
        self.progress.__enter__()
        self.progress.start_task(self.task)
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._member_done()
        self.progress.__exit__(*exc)

    def _member_done(self) -> None:
        if self.member is not None and self.last:
            self.console.print(f"classifier: member {self.member}: {self.last.get('epoch')} epochs, "
                               f"{self.last.get('rows_per_second', '?')} rows/s in the last, "
                               f"validation macro-F1 {self.last.get('val_macro_f1')}")
        self.last = {}

    def line(self, text: str) -> None:
        if text.startswith(("data:", "vocabulary:")):
            self.console.print(f"classifier: {escape(text)}", highlight=False)
            return
        fields = training_job.metric_fields(text)
        if "epoch" not in fields or "refit" in text:
            return
        member = fields.get("member", "0")
        if member != self.member:
            self._member_done()
            self.member = member
        self.last = fields
        self.progress.update(self.task, description=f"member {member}, epoch {fields['epoch']}, "
                                                    f"{fields.get('rows_per_second', '?')} rows/s, "
                                                    f"validation macro-F1 {fields.get('val_macro_f1', '?')}")


def package_model(model_dir: Path, run_dir: Path, workdir: Path) -> TrainResult:
    """model.tar.gz as SageMaker packs the job's model directory (``output/model.tar.gz``, as in
    S3), and its unpacked copy, the current model; both written atomically."""
    artifact = write_tar_gz(run_dir / "output" / "model.tar.gz", folder_members(model_dir))
    current = replace_folder(model_dir, workdir / CURRENT_MODEL)
    metrics = json.loads((current / "metrics.json").read_text())
    return TrainResult(artifact, current, metrics)


def train(config: HeadlinesConfig, workdir: Path = DEFAULT_WORKDIR, data: Optional[str] = None,
          test_data: Optional[str] = None, corpus: Optional[str] = None,
          overrides: Optional[Mapping[str, Any]] = None, console: Optional[Console] = None) -> TrainResult:
    console = console or Console(stderr=True)
    hyperparameters = classifier_hyperparameters(config, overrides)  # bad -H values fail before any work
    try:
        container_env.python()  # and so does a missing training toolkit
    except ContainerEnvError as error:
        raise PipelineError(str(error)) from error
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    news = resolve_news(data, workdir, config, console)
    _say_how_long(_check_news(news, console, "training data"), console)
    test = None
    if test_data is not None:
        test = resolve_news(test_data, workdir, config, console)
        _check_news(test, console, "test data")
    text = resolve_corpus(corpus, workdir, config, console)

    embeddings_hp = dict(config.embeddings.hyperparameters)
    vectors = embeddings_step(text.path, workdir, embeddings_hp, console)

    run_dir = workdir / "runs" / time.strftime("%Y%m%dT%H%M%S")
    suffix = 1
    while run_dir.exists():
        run_dir = run_dir.with_name(f"{run_dir.name.split('-')[0]}-{suffix}")
        suffix += 1
    model_dir = classifier_step(run_dir, news.path, vectors, test.path if test else None, hyperparameters, console,
                                config.classifier.training_instance_type)
    return package_model(model_dir, run_dir, workdir)
