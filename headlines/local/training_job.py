"""A SageMaker MXNet training job on this machine: AWS's own training toolkit, no imitation.

``prepare`` lays out a ``SAGEMAKER_BASE_DIR`` as SageMaker lays out ``/opt/ml`` for a job:
``input/config/hyperparameters.json`` (every value JSON-encoded, as Step Functions sends the
state machine's HyperParameters, ``sagemaker_program``/``sagemaker_submit_directory``
included, the latter pointing at the byte-reproducible ``sourcedir.tar.gz`` CDK publishes),
``inputdataconfig.json``, ``resourceconfig.json``, ``input/data/<channel>/``, ``model/`` and
``output/``. ``run`` starts the image's entry point (``sagemaker_training``'s ``train``, which
imports ``SAGEMAKER_TRAINING_MODULE=sagemaker_mxnet_container.training:main``) in the
SageMaker-shaped Python 3.8 environment; the toolkit unpacks the sourcedir into ``code/``,
decodes each hyperparameter and runs ``train.py --name value ...``. Its whole output goes to a
log file; the caller gets each line to summarise.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Protocol

from headlines.hyperparameters import sagemaker_hyperparameters
from headlines.local import container_env
from headlines.sourcedir import build_sourcedir

FRAMEWORK = "1.9.0"
LOG_NAME = "training.log"
TRAINING_MODULE = "sagemaker_mxnet_container.training:main"
HOST = "algo-1"
# The image's ENTRYPOINT is the toolkit's `train` console script; this is its body.
ENTRY = "from sagemaker_training.cli.train import main; main()"
_METRIC = re.compile(r"(\w+)=([^;\s]+);")


@dataclass(frozen=True)
class Job:
    base_dir: Path  # what /opt/ml is in the container
    hyperparameters: Dict[str, str]  # hyperparameters.json, as SageMaker writes it

    @property
    def model_dir(self) -> Path:
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")


def _channel(base_dir: Path, name: str, source: Path) -> None:
    """SageMaker copies an S3 prefix's objects into ``input/data/<channel>/``; links do here."""
    channel = base_dir / "input" / "data" / name
    channel.mkdir(parents=True, exist_ok=True)
    for item in (sorted(source.iterdir()) if source.is_dir() else [source]):
        (channel / item.name).symlink_to(item.resolve())


def prepare(base_dir: Path, hyperparameters: Mapping[str, Any], channels: Mapping[str, Path],
            instance_type: str, region: str = "local") -> Job:
    """The job's ``/opt/ml``, with the hyperparameters the state machine would send (the
    submit directory: the sourcedir tarball, built here); ``channels``: name -> file or folder."""
    sourcedir = build_sourcedir(base_dir / "sourcedir.tar.gz")
    return prepare_encoded(base_dir, sagemaker_hyperparameters(hyperparameters, str(sourcedir), region), channels,
                           instance_type)


def prepare_encoded(base_dir: Path, encoded: Mapping[str, str], channels: Mapping[str, Path],
                    instance_type: str) -> Job:
    """The job's ``/opt/ml`` for a CreateTrainingJob's HyperParameters, as they are."""
    config = base_dir / "input" / "config"
    _write_json(config / "hyperparameters.json", encoded)
    file_mode = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
    _write_json(config / "inputdataconfig.json", {
        name: dict(file_mode, **({"ContentType": "application/x-tar"} if name == "embeddings" else {}))
        for name in channels})
    _write_json(config / "resourceconfig.json", {
        "current_host": HOST, "hosts": [HOST], "current_group_name": "homogeneousCluster",
        "current_instance_type": instance_type, "network_interface_name": "eth0",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": [HOST]}]})
    for name, source in channels.items():
        _channel(base_dir, name, Path(source))
    for folder in ("model", "output/data", "code"):
        (base_dir / folder).mkdir(parents=True, exist_ok=True)
    return Job(base_dir, dict(encoded))


def environment(job: Job) -> Dict[str, str]:
    """This shell's variables, less any SageMaker ones, plus what the image and platform set."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SM_", "SAGEMAKER_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(SAGEMAKER_BASE_DIR=str(job.base_dir), SAGEMAKER_TRAINING_MODULE=TRAINING_MODULE,
               PYTHONUNBUFFERED="1",
               # The toolkit waits until every host name resolves (algo-1 does in SageMaker's
               # network, not here); its own switch for local runs skips that wait.
               SM_STUDIO_LOCAL_MODE="true")
    return env


class ProgressSink(Protocol):
    """Where a job's output lines go as they arrive (a context manager: the display opens and closes)."""

    def __enter__(self) -> "ProgressSink": ...

    def __exit__(self, *exc: object) -> Optional[bool]: ...

    def line(self, text: str) -> None: ...


def run(job: Job, log: Path, progress: Optional[ProgressSink] = None) -> int:
    """Runs the job; every output line goes to ``log`` and to ``progress.line``. Returns the exit status."""
    python = container_env.python()
    with log.open("w", encoding="utf-8") as handle, (progress or _Quiet()) as sink, _terminate_as_exit():
        # Its own process group, so that an interrupt here stops the toolkit and train.py below it.
        process = subprocess.Popen([str(python), "-c", ENTRY], cwd=str(job.base_dir), env=environment(job),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                   start_new_session=True)
        assert process.stdout is not None
        try:
            for line in process.stdout:
                handle.write(line)
                sink.line(line.strip())
        except BaseException:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
        finally:
            returncode = process.wait()
    return returncode


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (``kill``, a stopping service) unwinds like Ctrl-C, so the job's process group is
    stopped too; without it, the toolkit and train.py would run on after this process died."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def line(self, text: str) -> None:
        pass


def metric_fields(line: str) -> Dict[str, str]:
    """``member=0; epoch=3; val_macro_f1=0.8123;`` -> its fields."""
    return dict(_METRIC.findall(line))


def failure(job: Job, log: Path) -> str:
    """One line on why the job failed: train.py's ``error:`` line, else the toolkit's reason."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("error: "):
            return text[len("error: "):]
        if text.startswith("train.py: error: "):
            return text[len("train.py: error: "):]
    reason = job.output_dir / "failure"
    text = reason.read_text(encoding="utf-8", errors="replace") if reason.is_file() else ""
    exit_code = re.search(r"ExitCode (-?\d+)", text)  # the toolkit's ExecuteUserScriptError
    if exit_code:
        return f"train.py exited with status {exit_code.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "the training toolkit gave no reason"
