"""Where a running ``headlines serve`` / ``make up`` can be reached by other local commands.

``serve_local`` writes ``<workdir>/serving.json`` once everything answers (written to a
temporary name, then renamed) and removes it when it stops; ``headlines feed`` reads it to
classify through the same local SageMaker runtime API as the REST API does. A file whose
process is gone (a ``kill -9``) is recognised and ignored.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from headlines.local.endpoint import process_alive

STATE_FILE = "serving.json"


@dataclass(frozen=True)
class ServingState:
    api_url: str  # the REST API (POST /v1/classify)
    endpoint_url: str  # the local SageMaker runtime API (InvokeEndpoint)
    endpoint_name: str
    model_version: Optional[str]
    pid: int


def write_state(path: Path, state: ServingState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(temporary, path)


def remove_state(path: Path) -> None:
    try:
        state = read_state(path)
        if state is not None and state.pid == os.getpid():
            path.unlink()
    except OSError:
        pass


def read_state(path: Path) -> Optional[ServingState]:
    """The running server's state; None when there is none (or its process is gone)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = ServingState(**data)
    except (OSError, ValueError, TypeError):
        return None
    return state if process_alive(state.pid) else None
