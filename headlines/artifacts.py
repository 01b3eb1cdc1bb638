"""Writing artifacts atomically: a temporary name in the same folder, then a rename.

An interrupt (SIGINT) or a full disk while writing leaves at most a ``*.partial-*`` file or
folder, which is removed when it can be; a file under its final name is always complete.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Tuple


def _partial(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def atomic_file(destination: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file (text: UTF-8, newlines as written) written under a temporary name and renamed to
    ``destination`` when the block ends without an exception; removed on any exception (Ctrl-C
    included)."""
    temporary = _partial(destination)
    binary = "b" in mode
    try:
        with temporary.open(mode, encoding=None if binary else "utf-8", newline=None if binary else "") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_tar_gz(destination: Path, members: Iterable[Tuple[str, Path]]) -> Path:
    """A gzipped tarball of ``(name in the archive, path)`` pairs (folders recursively)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(destination, "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w:gz") as tar:
            for name, path in members:
                tar.add(str(path), arcname=name)
    return destination


def folder_members(folder: Path) -> Iterable[Tuple[str, Path]]:
    """The top-level entries of a folder, as SageMaker packs ``/opt/ml/model``."""
    return [(item.name, item) for item in sorted(folder.iterdir())]


def replace_folder(source: Path, destination: Path) -> Path:
    """``destination`` becomes a copy of ``source``; at no point a half-copied folder under its name."""
    temporary = _partial(destination)
    previous = destination.with_name(f".{destination.name}.previous-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        shutil.copytree(source, temporary)
        if destination.exists():
            destination.rename(previous)
        temporary.rename(destination)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        if previous.exists() and not destination.exists():
            previous.rename(destination)  # keep the model that was there
        raise
    shutil.rmtree(previous, ignore_errors=True)
    return destination
