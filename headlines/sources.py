"""Where the local pipeline's inputs come from: a path, a URL, or the public default.

Public defaults are downloaded with the ingest Lambda's own code into the work directory
(checked, cached). When they cannot be fetched (no internet), the small real sample shipped in
the package is used instead, with one warning line. An input the user named explicitly never
falls back: it works or fails with a one-line error.
"""
from __future__ import annotations

import gzip
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from headlines.config import HeadlinesConfig
from headlines.file_modules import load_lambda

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
SAMPLE_NEWS = SAMPLE_DIR / "newsCorpora-sample.csv.gz"
SAMPLE_CORPUS = SAMPLE_DIR / "corpus-public-domain.txt.gz"
SAMPLE_NOTES = {
    "news dataset": "the sample shipped in the repo (10,854 real News Aggregator headlines)",
    "text8 corpus": "the sample shipped in the repo (1.4M words of public-domain text)",
}


class InputError(Exception):
    """An input that cannot be used; one line for the user."""


@dataclass(frozen=True)
class Resolved:
    path: Path
    origin: str  # the URL or path it came from, or "sample"


def _ingest():
    return load_lambda("ingest", "ingest")


def _is_remote(location: str) -> bool:
    return location.startswith(("http://", "https://", "s3://"))


@contextmanager
def _download_bar(console: Console, label: str) -> Iterator:
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: Optional[int]) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _fetch(location: str, workdir: Path, folder: str, sha256: Optional[str], console: Console) -> Path:
    ingest = _ingest()
    store = ingest.LocalStore(str(workdir / "raw"))
    key = f"{folder}/{Path(location.split('?')[0]).name or folder}"
    with _download_bar(console, f"downloading {location}") as progress:
        result = ingest.stage(location, store, key, sha256=sha256, progress=progress)
    console.print(f"{'cached' if result['skipped'] else 'downloaded'}: {result['uri']}")
    return Path(str(result["uri"]))


def _gunzip(source: Path, target: Path) -> Path:
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with gzip.open(source, "rb") as data, partial.open("wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        partial.replace(target)
    return target


def _readable(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})")
    return path


def _sample(kind: str, workdir: Path, reason: str, console: Console) -> Resolved:
    console.print(f"[yellow]warning:[/] cannot fetch the public {kind} ({reason}); using {SAMPLE_NOTES[kind]}")
    if kind == "news dataset":
        return Resolved(_gunzip(SAMPLE_NEWS, workdir / "sample" / "newsCorpora-sample.csv"), "sample")
    return Resolved(_gunzip(SAMPLE_CORPUS, workdir / "sample" / "corpus.txt"), "sample")


def resolve_news(location: Optional[str], workdir: Path, config: HeadlinesConfig, console: Console) -> Resolved:
    """The News Aggregator file (CSV or zip) to train on."""
    if location is None:
        try:
            return Resolved(_fetch(config.data.news_url, workdir, "news", config.data.news_sha256, console),
                            config.data.news_url)
        except _ingest().IngestError as error:
            return _sample("news dataset", workdir, str(error), console)
    if _is_remote(location):
        try:
            return Resolved(_fetch(location, workdir, "news", None, console), location)
        except _ingest().IngestError as error:
            raise InputError(str(error))
    return Resolved(_readable(Path(location)), location)


def resolve_corpus(location: Optional[str], workdir: Path, config: HeadlinesConfig, console: Console) -> Resolved:
    """A plain-text, text8-style corpus for the word vectors (zips and .gz are unpacked)."""
    origin = location or config.data.corpus_url
    if location is None or _is_remote(location):
        try:
            path = _fetch(origin, workdir, "corpus", config.data.corpus_sha256 if location is None else None, console)
        except _ingest().IngestError as error:
            if location is not None:
                raise InputError(str(error))
            return _sample("text8 corpus", workdir, str(error), console)
    else:
        path = _readable(Path(location))
    return Resolved(_plain_text(path, workdir), origin)


def _plain_text(path: Path, workdir: Path) -> Path:
    ingest = _ingest()
    if path.suffix == ".gz":
        return _gunzip(path, workdir / "raw" / "corpus" / "text" / path.stem)
    store = ingest.LocalStore(str(path.parent))
    try:
        unpacked = ingest.unpack_single_member(store, path.name, f"text/{path.stem}")
    except ingest.IngestError as error:
        raise InputError(str(error))
    if unpacked is None and path.suffix == ".zip":
        raise InputError(f"{path}: a corpus zip must hold exactly one text file")
    return Path(unpacked) if unpacked else path
