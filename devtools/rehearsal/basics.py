"""What every part of the rehearsal shares: its one-line failure, the time budget, output, text helpers."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import List, Sequence


class RehearsalError(Exception):
    """A failure with the one line that explains it."""

    def __init__(self, what: str, detail: Sequence[str] = ()) -> None:
        super().__init__(what)
        self.what = what
        self.detail = list(detail)


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that every ``finally`` runs."""


class Deadline:
    """The whole run's time budget; every subprocess gets at most what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def timeout(self, cap: float) -> float:
        left = self.left()
        if left <= 1:
            raise RehearsalError(f"time budget of {self.seconds:.0f} s used up")
        return min(cap, left)


def say(message: str = "") -> None:
    print(message, flush=True)


def tail(path: Path, lines: int = 15) -> List[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return kept[-lines:]


def short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 160 else text[:157] + "..."


def clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def name_of(physical: str) -> str:
    """The name at the end of an ARN (or the id itself)."""
    return re.split(r"[/:]", physical)[-1] if physical else ""
