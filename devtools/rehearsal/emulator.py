"""``moto_server``: the emulator process this run starts and stops, and the processes it leads."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO, Dict, Optional

from devtools.rehearsal.basics import RehearsalError, tail
from headlines.local.endpoint import free_port


def _bin(name: str) -> str:
    """An executable of this virtual environment (moto_server), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RehearsalError(f"{name} not found (install the dev requirements: make install)")
    return found


class Emulator:
    """``moto_server`` on a free loopback port, stopped on every way out."""

    def __init__(self, log_path: Path, port: Optional[int] = None) -> None:
        self.log_path = log_path
        self.port = port
        self.process: Optional[subprocess.Popen] = None
        self._log: Optional[BinaryIO] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    @property
    def url(self) -> str:
        # "localhost", not 127.0.0.1: moto reads an IP host of a template URL as a bucket name.
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 30.0) -> "Emulator":
        end = time.monotonic() + timeout
        for _attempt in range(3):
            port = self.port or free_port()
            self._log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, env=scrubbed_env(),
            )
            self.port = port
            while time.monotonic() < end:
                if self.process.poll() is not None:
                    break  # lost a race for the port: try another
                if _answers(f"http://127.0.0.1:{port}/moto-api/"):
                    return self
                time.sleep(0.2)
            self.stop()
            if time.monotonic() >= end:
                break
            self.port = None
        raise RehearsalError(f"moto_server did not answer within {timeout:.0f} s "
                             f"(log: {self.log_path})", tail(self.log_path))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            terminate_group(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def terminate_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process the rehearsal started, with the process group it leads (by its id)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def scrubbed_env() -> Dict[str, str]:
    """This process's environment without anything that could reach a real AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.pop("MOTO_PORT", None)
    return env
