"""Where the local pipeline's inputs come from: a path, a URL, or the public default.

Public defaults are downloaded with the ingest Lambda's own code into the work directory
(checked, cached). When they cannot be fetched (no internet), the small real sample shipped in
the package is used instead, with one warning line per input. An input the user named
explicitly never falls back: it works or fails with a one-line error.

Compressed inputs (``.gz``, a corpus zip holding one file) are unpacked inside the work
directory only, into a folder named by the archive's SHA-256: a different file under the same
name never reuses an old copy (nor the word vectors cached for it), and a read-only input
folder works. Archives are checked before any work (a truncated zip is never read as a CSV,
a truncated ``.gz`` is one error line), and unpacking writes a temporary name, then renames.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from headlines.config import HeadlinesConfig
from headlines.errors import UserError
from headlines.file_modules import load_lambda

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"  # package data of headlines
SAMPLE_NEWS = SAMPLE_DIR / "newsCorpora-sample.csv.gz"
SAMPLE_CORPUS = SAMPLE_DIR / "corpus-public-domain.txt.gz"
SAMPLE_NOTES = {
    "news dataset": "the sample shipped in the repo (10,854 real News Aggregator headlines)",
    "text8 corpus": "the sample shipped in the repo (1.4M words of public-domain text)",
}


CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; the end record of an empty zip
DIGEST_CHARS = 16  # of the SHA-256 naming an unpacked copy's folder


class InputError(UserError):
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
    # Off when not a terminal: a transient bar would leave an empty line in a log.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
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


def _fetch_public(urls: List[str], workdir: Path, folder: str, sha256: Optional[str],
                  members: Dict[str, int], console: Console) -> Path:
    """A public dataset as the ingest Lambda stages it: the first address that gives the
    expected zip (cdk.json data.*_members), the others as fallbacks."""
    ingest = _ingest()
    store = ingest.LocalStore(str(workdir / "raw"))
    key = f"{folder}/{Path(urls[0].split('?')[0]).name or folder}"
    with _download_bar(console, f"downloading {urls[0]}") as progress:
        result = ingest.stage_dataset(urls, store, key, sha256=sha256, expected_members=members,
                                      progress=progress, unpack=False)
    console.print(f"{'cached' if result['skipped'] else 'downloaded'}: {result['uri']} (from {result['origin']})")
    return Path(str(result["uri"]))


def _readable(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from error
    return path


def _sample(kind: str, workdir: Path, reason: str, console: Console) -> Resolved:
    console.print(f"[yellow]warning:[/] cannot fetch the public {kind} ({reason}); using {SAMPLE_NOTES[kind]}")
    sample = SAMPLE_NEWS if kind == "news dataset" else SAMPLE_CORPUS
    return Resolved(_gunzipped(sample, workdir / "sample"), "sample")


def sample_news_copy(workdir: Path) -> Path:
    """Where training's fallback unpacks the shipped news sample in ``workdir``
    (``sample/<its SHA-256>/newsCorpora-sample.csv``, as ``_sample`` does); it may not exist."""
    return _unpacked_path(SAMPLE_NEWS, workdir / "sample", SAMPLE_NEWS.name[:-len(".gz")])


def resolve_news(location: Optional[str], workdir: Path, config: HeadlinesConfig, console: Console) -> Resolved:
    """The News Aggregator file (CSV or zip) to train on."""
    if location is None:
        try:
            data = config.data
            return Resolved(_fetch_public(data.news_urls, workdir, "news", data.news_sha256, data.news_members, console),
                            data.news_url)
        except _ingest().IngestError as error:
            return _sample("news dataset", workdir, str(error), console)
    if _is_remote(location):
        try:
            path = _fetch(location, workdir, "news", None, console)
        except _ingest().IngestError as error:
            raise InputError(str(error)) from error
    else:
        path = _readable(Path(location))
    return Resolved(_news_file(path, workdir), location)


def resolve_corpus(location: Optional[str], workdir: Path, config: HeadlinesConfig, console: Console) -> Resolved:
    """A plain-text, text8-style corpus for the word vectors (zips and .gz are unpacked)."""
    origin = location or config.data.corpus_url
    if location is None or _is_remote(location):
        try:
            if location is None:
                data = config.data
                path = _fetch_public([data.corpus_url], workdir, "corpus", data.corpus_sha256, data.corpus_members, console)
            else:
                path = _fetch(location, workdir, "corpus", None, console)
        except _ingest().IngestError as error:
            if location is not None:
                raise InputError(str(error)) from error
            return _sample("text8 corpus", workdir, str(error), console)
    else:
        path = _readable(Path(location))
    return Resolved(_plain_text(path, workdir), origin)


def _magic(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


def _checked_zip(path: Path, read_members: bool) -> Optional[zipfile.ZipFile]:
    """The open zip, or None when ``path`` is not a zip; a damaged zip is an InputError.

    ``read_members`` checks every member's CRC now (for a zip read later by another loader);
    unpacking checks it anyway, as it reads the member to its end.
    """
    magic = _magic(path)
    if not zipfile.is_zipfile(path):
        if magic in ZIP_MAGICS:  # starts like a zip but has no central directory: cut short
            raise InputError(f"{path}: truncated or damaged zip (no central directory); download it again")
        return None
    try:
        archive = zipfile.ZipFile(path)
        damaged = archive.testzip() if read_members else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error) as error:
        raise InputError(f"{path}: damaged zip ({error}); download it again") from error
    if damaged is not None:
        archive.close()
        raise InputError(f"{path}: damaged zip (member {damaged} fails its CRC check); download it again")
    return archive


def _file_sha256(path: Path) -> str:
    sidecar = path.with_name(path.name + ".sha256")  # what the ingest code records for a download
    if sidecar.is_file() and sidecar.stat().st_mtime >= path.stat().st_mtime:
        return sidecar.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unpacked_path(archive: Path, folder: Path, name: str) -> Path:
    """Where the content of ``archive`` goes: ``folder/<its SHA-256>/name``."""
    return folder / _file_sha256(archive)[:DIGEST_CHARS] / name


def _read(source: IO[bytes], archive: Path) -> bytes:
    try:
        return source.read(CHUNK)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as error:
        raise InputError(f"{archive}: truncated or damaged archive ({error}); download it again") from error


def _write_atomically(source: IO[bytes], target: Path, archive: Path) -> Path:
    """Copies ``source`` to a temporary name beside ``target``, then renames it.

    A read failure is the archive's fault (one line naming it); a write failure (disk full)
    is an OSError naming the file being written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in iter(lambda: _read(source, archive), b""):
                    out.write(chunk)
        except InputError:
            raise
        except OSError as error:  # the write side (the last flush, on close, included)
            raise OSError(error.errno, error.strerror, str(target)) from error
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _gunzipped(archive: Path, folder: Path) -> Path:
    name = archive.name[:-len(".gz")] if archive.name.endswith(".gz") else archive.name + ".txt"
    target = _unpacked_path(archive, folder, name)
    if not target.is_file():
        with gzip.open(archive, "rb") as data:
            _write_atomically(data, target, archive)  # type: ignore[arg-type]  # a GzipFile reads bytes
    return target


def _unzipped_single(archive: Path, zip_file: zipfile.ZipFile, folder: Path) -> Optional[Path]:
    """The one file of a single-file zip, unpacked in ``folder``; None for other zips.

    Not ingest.unpack_single_member: that one reads and writes in one store (the data bucket);
    here the archive may be anywhere, and the copy goes in the work directory.
    """
    members = [info for info in zip_file.infolist() if not info.is_dir()]
    if len(members) != 1:
        return None
    name = Path(members[0].filename).name  # the name only: never a path out of the folder
    if name in ("", ".", ".."):
        raise InputError(f"{archive}: its member has no usable file name ({members[0].filename!r})")
    target = _unpacked_path(archive, folder, name)
    if not target.is_file():
        with zip_file.open(members[0]) as member:
            _write_atomically(member, target, archive)
    return target


def _news_file(path: Path, workdir: Path) -> Path:
    """The News Aggregator file to read: a ``.gz`` is unpacked, a zip is checked (and read
    in place by training's loader, which finds newsCorpora.csv inside it)."""
    if _magic(path).startswith(GZIP_MAGIC):
        return _gunzipped(path, workdir / "raw" / "news" / "text")
    zip_file = _checked_zip(path, read_members=True)  # training's loader reads it in place
    if zip_file is not None:
        zip_file.close()
    return path


def _plain_text(path: Path, workdir: Path) -> Path:
    folder = workdir / "raw" / "corpus" / "text"
    if _magic(path).startswith(GZIP_MAGIC):
        return _gunzipped(path, folder)
    zip_file = _checked_zip(path, read_members=False)
    if zip_file is None:
        return path
    with zip_file:
        unpacked = _unzipped_single(path, zip_file, folder)
    if unpacked is None:
        raise InputError(f"{path}: a corpus zip must hold exactly one text file")
    return unpacked
