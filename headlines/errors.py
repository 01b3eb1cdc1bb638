"""How a failure reaches the user of ``headlines``: one ``error: ...`` line and an exit status.

``headlines.cli.commands.main`` sends every exception that ends a command through ``describe``; the
traceback is shown only with ``--debug`` (or ``HEADLINES_DEBUG=1``). This module imports
nothing heavy: the project's own error types are looked up in the modules that define them
only when those modules were imported (an error cannot come from a module never loaded), so
``headlines --help`` and ``headlines classify`` stay fast.
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import NamedTuple, Optional, Tuple, Type

EXIT_FAILURE = 1  # a step or the environment failed (disk full, train.py failed, ...)
EXIT_USAGE = 2  # bad input or setting: the user can fix the command line
EXIT_INTERRUPTED = 130  # what a shell reports for SIGINT

DEBUG_ENV = "HEADLINES_DEBUG"

# Write failures that mean "the disk (or the file-size limit) is full", whatever wrote.
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# The same failures as they appear in a child process's last line (train.py, MXNet's C++
# FileStream, which reports only this text).
_DISK_FULL_TEXTS = ("FileStream.Write incomplete", "No space left on device", "Disk quota exceeded",
                    "File too large", "[Errno 28]", "[Errno 27]", "[Errno 122]")

# One-line error types defined in modules that import heavy libraries (gensim, MXNet, rich):
# module -> class name; see the module docstring.
_ONE_LINE_TYPES = {
    "headlines.local.pipeline": ("PipelineError", EXIT_FAILURE),
    "headlines.local.embeddings": ("EmbeddingsError", EXIT_USAGE),
    "headlines.local.api_front": ("LocalServeError", EXIT_FAILURE),
}


class UserError(Exception):
    """A failure the user can act on; its message is the one line they see. Subclass it for a
    new kind (``exit_status`` says which status it ends with)."""

    exit_status = EXIT_USAGE


class Report(NamedTuple):
    message: str  # without the "error: " prefix
    exit_status: int
    expected: bool  # False for a bug: the line then suggests --debug


def debug_requested(argv_flag: bool = False) -> bool:
    return argv_flag or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "no")


def _one_line_types() -> Tuple[Tuple[Type[BaseException], int], ...]:
    found = []
    for module_name, (class_name, status) in _ONE_LINE_TYPES.items():
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type):
            found.append((cls, status))
    return tuple(found)


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    return any(text in str(error) for text in _DISK_FULL_TEXTS)


def _disk_full(where: str) -> str:
    return f"{where}: no space left on the disk (or over the file-size limit): free some space, or pass --workdir on another disk"


def _os_error(error: OSError, workdir: Optional[Path]) -> Report:
    target = error.filename or workdir
    if error.errno in _DISK_FULL_ERRNOS:
        return Report(_disk_full(str(target) if target else "writing"), EXIT_FAILURE, True)
    reason = error.strerror or str(error)
    if isinstance(error, FileExistsError) and error.filename:  # what mkdir says of a file in a folder's place
        reason = "exists and is not a folder"
    if error.filename and error.filename2:
        return Report(f"{error.filename} -> {error.filename2}: {reason}", EXIT_USAGE, True)
    if error.filename:
        return Report(f"{error.filename}: {reason}", EXIT_USAGE, True)
    # Errors without a file (a port in use, a broken connection) carry their own words.
    status = EXIT_USAGE if isinstance(error, FileNotFoundError) else EXIT_FAILURE
    return Report(str(error) or reason, status, True)


def _validation_errors(error: BaseException) -> Optional[str]:
    """pydantic's multi-line ValidationError as one line (pydantic is not imported for it)."""
    if type(error).__name__ != "ValidationError" or not type(error).__module__.startswith("pydantic"):
        return None
    problems = [f"{'.'.join(str(part) for part in item.get('loc', ())) or 'value'}: {item.get('msg', '')}"
                for item in error.errors()]  # type: ignore[attr-defined]  # a pydantic ValidationError
    return f"invalid {getattr(error, 'title', 'configuration')} (cdk.json or -c): " + "; ".join(problems)


def _one_line(report: Report) -> Report:
    lines = [line.strip() for line in report.message.splitlines() if line.strip()]
    return report._replace(message=" / ".join(lines)) if len(lines) > 1 else report


def describe(error: BaseException, workdir: Optional[Path] = None) -> Report:
    """The line and exit status for an exception that ended a command; always one line.

    ``workdir`` is named when a disk-full failure does not say which file it was writing.
    """
    return _one_line(_describe(error, workdir))


def _describe(error: BaseException, workdir: Optional[Path]) -> Report:
    if isinstance(error, KeyboardInterrupt):
        return Report("interrupted", EXIT_INTERRUPTED, True)
    if isinstance(error, UserError):
        return Report(str(error), error.exit_status, True)
    for cls, status in _one_line_types():
        if isinstance(error, cls):
            if is_disk_full(error):
                return Report(_disk_full(str(workdir) if workdir else "writing") + f" ({error})", EXIT_FAILURE, True)
            return Report(str(error), status, True)
    if isinstance(error, OSError):
        return _os_error(error, workdir)
    validation = _validation_errors(error)
    if validation is not None:
        return Report(validation, EXIT_USAGE, True)
    if isinstance(error, ValueError):
        return Report(str(error), EXIT_USAGE, True)
    if isinstance(error, MemoryError):
        return Report("out of memory", EXIT_FAILURE, True)
    detail = f": {error}" if str(error) else ""
    return Report(f"unexpected {type(error).__name__}{detail} (run again with --debug to see where)",
                  EXIT_FAILURE, False)
