"""The local SageMaker endpoint's container: AWS's MXNet serving toolkit behind Multi Model Server.

``start_model_server(model_dir)`` runs ``headlines/local/model_container.py`` (the image's entry
point, ``sagemaker_mxnet_serving_container.serving.main()``) with ``.venv-sagemaker``'s Python
3.8, under a fresh ``SAGEMAKER_BASE_DIR`` whose ``model/`` is the extracted artifact, and with
the variables a SageMaker Model sets (``SAGEMAKER_PROGRAM=inference.py``,
``SAGEMAKER_SUBMIT_DIRECTORY=<model>/code``) plus ``SAGEMAKER_BIND_TO_PORT`` and
``SAGEMAKER_MODEL_SERVER_WORKERS`` (default: one per CPU, as in the image). MMS supervises its
Python workers: one that dies is replaced while the others go on serving.

The server is ready when ``GET /ping`` answers and a first ``POST /invocations`` went through
the model (MMS reports healthy even when every worker failed to load the model). A model that
cannot load is one line: the exception the toolkit logged.

MMS starts its Java frontend detached; ``stop()`` ends the whole process group (launcher,
Java, workers) by pid, and the launcher also stops Java when this process goes away.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Mapping, Optional, Union

from headlines.local import container_env

LAUNCHER = Path(__file__).resolve().with_name("model_container.py")
# MMS refuses ports from 32767 up (its Connector), which is where the kernel's ephemeral ports are.
MMS_PORT_RANGE = (20000, 32766)
MODEL_FILES = ("model-symbol.json", "model-0000.params", "vocab.json", "labels.json", "metrics.json",
               "code/inference.py")
PROBE_BODY = b'{"headline": "Fed raises interest rates again"}'
START_TIMEOUT_SECONDS = 300.0


class LocalServeError(RuntimeError):
    """A readable one-line reason why local serving could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_mms_port(host: str = "127.0.0.1") -> int:
    """A free port below MMS's limit of 32767."""
    for _ in range(200):
        port = random.randint(*MMS_PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise LocalServeError(f"no free port between {MMS_PORT_RANGE[0]} and {MMS_PORT_RANGE[1]} for the model server")


def default_workers() -> int:
    """Like the SageMaker image: SAGEMAKER_MODEL_SERVER_WORKERS, else one per CPU."""
    try:
        return max(1, int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or os.cpu_count() or 1))
    except ValueError:
        return max(1, os.cpu_count() or 1)


def check_model_dir(model_dir: Union[str, Path]) -> Path:
    """The folder, if it holds a whole model artifact; else one line naming what is missing."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise LocalServeError(f"{model_dir}: no such model folder")
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise LocalServeError(f"{model_dir} is not a whole model artifact: {', '.join(missing)} missing "
                              f"(train again with `headlines train`)")
    return model_dir.resolve()


_LOGGED_ERROR = re.compile(r"WorkerLifeCycle - ((?:\w+\.)*\w*(?:Error|Exception)\b: .+)$")


def _logged_errors(log_path: Path) -> List[str]:
    """The exceptions the model workers logged, in order (MMS prefixes worker output with its logger)."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [found.group(1).strip()[:300] for found in map(_LOGGED_ERROR.search, lines) if found]


def _first_model_error(log_path: Path) -> Optional[str]:
    """The first exception a model worker logged: the cause; what follows are its consequences on later requests."""
    errors = _logged_errors(log_path)
    return errors[0] if errors else None


@dataclass
class ModelServer:
    """A running Multi Model Server with the MXNet serving toolkit (the container)."""

    port: int
    workers: int
    base_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def java_pid(self) -> Optional[int]:
        for name in ("model-server.pid", "tmp/.model_server.pid"):
            with contextlib.suppress(OSError, ValueError):
                return int((self.base_dir / name).read_text().strip())
        return None

    def worker_pids(self) -> List[int]:
        """The Python processes that run the model (MMS's workers), from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text()
                group = int(stat.rsplit(")", 1)[1].split()[2])
                if group == self.process.pid and any(part.endswith(b"model_service_worker.py") for part in command):
                    pids.append(int(entry.name))
        return sorted(pids)

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            status, _ = self.request("GET", "/ping", None, timeout=timeout)
        except OSError:
            return False
        return status == 200

    def request(self, method: str, path: str, body: Optional[bytes], content_type: str = "application/json",
                timeout: float = 60.0):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": content_type} if body else {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the launcher, the Java frontend and the workers (one process group), by pid."""
        group = self.process.pid
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()  # the launcher stops Java itself
        java = self.java_pid()
        for pid, sig in ((java, signal.SIGTERM),):
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_group_alive(group) or (java and process_alive(java))):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.1)
        for pid in (java,):
            if pid and process_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        shutil.rmtree(self.base_dir, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is gone for our purposes
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def container_environment(base_dir: Path, port: int, workers: int, overrides: Optional[Mapping[str, str]] = None) -> dict:
    """The environment the image's entry point runs under (SageMaker's variables and MMS's);
    ``overrides`` as a transform job's ``Environment`` overrides the Model's (bulk scoring)."""
    from headlines.config import load_config

    api = load_config().api
    venv_bin = str(container_env.python().parent)
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update({
        "SAGEMAKER_BASE_DIR": str(base_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": str(base_dir / "model" / "code"),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        # inference.py's request limits, as the SageMaker Model sets them (infra/serving.py)
        "HEADLINES_MAX_BATCH": str(api.max_batch_size),
        "HEADLINES_MAX_CHARS": str(api.max_headline_chars),
        # MMS keeps its pid file and worker sockets in the temporary folder: one per server.
        "TMPDIR": str(base_dir / "tmp"),
        "TEMP": str(base_dir / "tmp"),
        "LOG_LOCATION": str(base_dir / "logs"),
        "METRICS_LOCATION": str(base_dir / "logs"),
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
    })
    env.update(overrides or {})
    return env


def check_serving_prerequisites() -> Path:
    """The container's Python 3.8, if it and Java are there; else one line saying how to get them."""
    try:
        python = container_env.python()
        container_env.java()
    except container_env.ContainerEnvError as error:
        raise LocalServeError(str(error)) from None
    return python


def start_model_server(model_dir: Union[str, Path], workers: Optional[int] = None, port: int = 0,
                       timeout: float = START_TIMEOUT_SECONDS, environment: Optional[Mapping[str, str]] = None) -> ModelServer:
    """Start the container for ``model_dir`` and wait until the model answers."""
    python = check_serving_prerequisites()
    model_dir = check_model_dir(model_dir)
    workers = workers or default_workers()
    port = port or free_mms_port()
    if not 0 < port < MMS_PORT_RANGE[1] + 1:
        raise LocalServeError(f"the model server's port must be below 32767 (Multi Model Server's limit), not {port}")
    base_dir = Path(tempfile.mkdtemp(prefix="headlines-endpoint-"))
    (base_dir / "tmp").mkdir()
    (base_dir / "logs").mkdir()
    (base_dir / "model").symlink_to(model_dir, target_is_directory=True)
    log_path = base_dir / "logs" / "model-server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(python), str(LAUNCHER)], cwd=base_dir, stdin=subprocess.PIPE, stdout=log,
                                   stderr=subprocess.STDOUT, env=container_environment(base_dir, port, workers, environment),
                                   start_new_session=True)
    server = ModelServer(port=port, workers=workers, base_dir=base_dir, log_path=log_path, process=process)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: ModelServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.ping(timeout=1.0):
        if not server.running():
            detail = _first_model_error(server.log_path) or "see its log above"
            raise LocalServeError(f"the model server exited while starting: {detail}")
        if time.monotonic() > deadline:
            raise LocalServeError(f"the model server did not answer /ping within {timeout:.0f} s")
        time.sleep(0.25)
    # /ping is healthy as soon as workers are up, even when model_fn failed in all of them.
    try:
        status, body = server.request("POST", "/invocations", PROBE_BODY, timeout=max(5.0, deadline - time.monotonic()))
    except OSError as error:
        raise LocalServeError(f"the model server did not answer a first invocation: {error}") from None
    if status >= 500:
        detail = _model_load_error(server.log_path) or _first_line(body)
        hint = ""
        if "Unsupported model type" in detail:  # e.g. an artifact packaged before model_fn returned a Block
            hint = " (the artifact serves the code/inference.py it was trained with: `headlines up --retrain`)"
        raise LocalServeError(f"the model failed to load in the SageMaker MXNet serving toolkit: {detail}{hint}")


# What a worker logs when a request finds no model: a consequence of the load failure, not its cause.
_CONSEQUENCE = "'NoneType' object has no attribute"


def _model_load_error(log_path: Path, wait: float = 5.0) -> Optional[str]:
    """The cause of a failed model load. MMS copies each worker's output into its log
    asynchronously, so the 500 can arrive before the cause is in the file: wait for it a little."""
    deadline = time.monotonic() + wait
    while True:
        errors = _logged_errors(log_path)
        causes = [error for error in errors if _CONSEQUENCE not in error]
        if causes or time.monotonic() > deadline:
            found = causes or errors
            return found[0] if found else None
        time.sleep(0.2)


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("message", text))
    return text.splitlines()[0][:300] if text else "no message"
