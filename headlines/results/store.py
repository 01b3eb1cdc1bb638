"""The local store of result records: the API's spool (JSON lines) compacted into Parquet files,
read with DuckDB through a view named ``results``.

Layout, under ``<workdir>/results/``::

    spool/*.jsonl    what the handler processes append (functions/api/results_sink.py)
    parts/*.parquet  compacted records
    manifest.json    the parts that make the store, and how far each spool file has been read
    .lock            compaction holds it exclusively, readers shared

Why it cannot lose or repeat a record: the manifest is the store's one truth and is replaced
atomically (temporary name, fsync, rename). A compaction writes its Parquet part first (under a
temporary name, then renamed), then the manifest that lists the part together with the spool
offsets it covers, and only then deletes what the new manifest no longer needs (read spool files,
merged parts, leftovers of a compaction killed half way, which no manifest lists). Killed at any
point, the old or the new manifest holds, never a mix. A spool file is deleted only once fully
read and finished (its writer's lock is free: closed, or its process gone); a line without its
newline at the end of a finished file is a record its writer was killed writing, and is skipped
(counted as ``torn``). A full disk fails the compaction before its manifest: the store stays as
it was, readable, and the spool keeps the records for the next try.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from headlines.errors import EXIT_FAILURE, UserError
from headlines.results import schema

SPOOL = "spool"
PARTS = "parts"
MANIFEST = "manifest.json"
LOCK = ".lock"
KEY_FILE = "hash.key"
#: Parts smaller than this are merged once there are MERGE_COUNT of them.
SMALL_PART_ROWS = 250_000
MERGE_COUNT = 8


class StoreError(UserError):
    """The store cannot be read or written (the message says which file and why)."""

    exit_status = EXIT_FAILURE


@dataclass
class Compaction:
    """What one compaction did."""

    records: int = 0
    torn: int = 0
    spool_files_removed: int = 0
    parts_merged: int = 0


@dataclass
class Manifest:
    parts: List[Dict[str, Any]] = field(default_factory=list)
    offsets: Dict[str, int] = field(default_factory=dict)
    torn: int = 0

    @property
    def rows(self) -> int:
        return sum(int(part["rows"]) for part in self.parts)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` under ``path``, whole or not at all (a temporary name, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _last_byte(fd: int, size: int) -> bytes:
    return os.pread(fd, 1, size - 1)


def _last_line_end(fd: int, start: int, size: int) -> int:
    """The offset just past the last newline in [start, size) (``start`` when there is none)."""
    position = size
    while position > start:
        step = min(1 << 16, position - start)
        chunk = os.pread(fd, step, position - step)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return position - step + newline + 1
        position -= step
    return start


class Store:
    """The store under ``root`` (``<workdir>/results``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.spool = self.root / SPOOL
        self.parts = self.root / PARTS
        self.manifest_path = self.root / MANIFEST
        self.key_file = self.root / KEY_FILE

    # --- the manifest and the lock ----------------------------------------------------------
    def manifest(self) -> Manifest:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Manifest()
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.manifest_path}: {exc}") from None
        return Manifest(list(data.get("parts", [])), dict(data.get("offsets", {})), int(data.get("torn", 0)))

    def _write_manifest(self, manifest: Manifest) -> None:
        document = {"version": 1, "parts": manifest.parts, "offsets": manifest.offsets, "torn": manifest.torn}
        write_atomically(self.manifest_path, json.dumps(document, indent=1).encode("utf-8"))

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    # --- compaction --------------------------------------------------------------------------
    def compact(self) -> Compaction:
        """Move what the spool holds into a Parquet part, merge small parts, delete what is read."""
        try:
            with self._locked(fcntl.LOCK_EX):
                return self._compact()
        except OSError as exc:
            raise StoreError(f"cannot compact the results store {self.root}: {exc.strerror or exc}") from None

    def _spool_files(self) -> List[Path]:
        if not self.spool.is_dir():
            return []
        return sorted(p for p in self.spool.iterdir() if p.suffix == ".jsonl" and not p.name.startswith("."))

    def _compact(self) -> Compaction:
        import duckdb

        manifest = self.manifest()
        done = Compaction()
        slices: List[Path] = []  # whole finished spool files, or copies of the part still to read
        finished: List[Tuple[Path, int]] = []  # (spool file, its lock descriptor), deleted after the manifest
        offsets = dict(manifest.offsets)
        self.parts.mkdir(parents=True, exist_ok=True)
        try:
            for path in self._spool_files():
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    is_finished = True
                except BlockingIOError:
                    is_finished = False
                start = offsets.get(path.name, 0)
                size = os.fstat(fd).st_size
                end = size if is_finished else _last_line_end(fd, start, size)
                if is_finished:
                    finished.append((path, fd))
                    if size > start and _last_byte(fd, size) != b"\n":
                        done.torn += 1  # its writer was killed writing it: read_json skips it
                if end > start:
                    slices.append(path if start == 0 and is_finished else self._slice(fd, start, end))
                offsets[path.name] = end
                if not is_finished:
                    os.close(fd)
            new_parts = list(manifest.parts)
            small = [p for p in new_parts if int(p["rows"]) < SMALL_PART_ROWS]
            listed = {p.name for p in self._spool_files()}
            # offsets of spool files already deleted are no longer needed (the last manifest said them read)
            offsets = {name: offset for name, offset in offsets.items() if name in listed}
            unchanged = (not slices and not finished and len(small) < MERGE_COUNT and offsets == manifest.offsets
                         and {p.name for p in self.parts.iterdir()} == {p["file"] for p in new_parts})
            if unchanged:
                return done  # nothing new, nothing to delete: no part, no manifest to write
            connection = duckdb.connect()
            if slices:
                part = self._write_part(connection, self._read_json(slices))
                done.records = part["rows"]
                if part["rows"]:
                    new_parts.append(part)
            small = [p for p in new_parts if int(p["rows"]) < SMALL_PART_ROWS]
            if len(small) >= MERGE_COUNT:
                files = ", ".join(f"'{self.parts / p['file']}'" for p in small)
                merged = self._write_part(connection, f"read_parquet([{files}])")
                new_parts = [p for p in new_parts if p not in small] + [merged]
                done.parts_merged = len(small)
            connection.close()
            self._write_manifest(Manifest(new_parts, offsets, manifest.torn + done.torn))
        except BaseException:
            for _, fd in finished:
                os.close(fd)
            raise
        finally:
            for piece in slices:
                if piece.parent == self.parts:
                    piece.unlink(missing_ok=True)
        for path, fd in finished:
            path.unlink(missing_ok=True)
            os.close(fd)
            done.spool_files_removed += 1
        keep = {p["file"] for p in new_parts}
        for leftover in self.parts.iterdir():  # merged parts, and parts of a compaction killed half way
            if leftover.name not in keep:
                leftover.unlink(missing_ok=True)
        return done

    def _slice(self, fd: int, start: int, end: int) -> Path:
        piece = self.parts / f".slice-{uuid.uuid4().hex}.jsonl"
        with open(piece, "wb") as out:
            position = start
            while position < end:
                chunk = os.pread(fd, min(1 << 22, end - position), position)
                if not chunk:
                    break
                out.write(chunk)
                position += len(chunk)
        return piece

    @staticmethod
    def _read_json(paths: List[Path]) -> str:
        files = ", ".join(f"'{p}'" for p in paths)
        required = " AND ".join(f'"{f.name}" IS NOT NULL' for f in schema.fields() if not f.nullable)
        # A line that is not a record of the schema (not JSON, a wrong type) is skipped, not fatal.
        return (f"(SELECT * FROM read_json([{files}], format='newline_delimited', ignore_errors=true, "
                f"columns={schema.read_json_columns()}) WHERE {required})")

    def _write_part(self, connection: Any, relation: str) -> Dict[str, Any]:
        name = f"part-{uuid.uuid4().hex}.parquet"
        temporary = self.parts / f".{name}.tmp"
        try:
            connection.execute(f"COPY (SELECT * FROM {relation} ORDER BY \"time\") TO '{temporary}' "
                               "(FORMAT parquet, COMPRESSION zstd)")
            rows = connection.execute(f"SELECT count(*) FROM read_parquet('{temporary}')").fetchone()[0]
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self.parts / name)
        finally:
            temporary.unlink(missing_ok=True)
        return {"file": name, "rows": int(rows)}

    # --- reading -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, compact: bool = True) -> Iterator[Any]:
        """A DuckDB connection with the view ``results`` over the store (compacted first, unless
        ``compact`` is false or the compaction fails: what is stored stays readable)."""
        import duckdb

        if not self.root.is_dir():  # nothing recorded yet: an empty table, and no folder made for it
            connection = duckdb.connect()
            try:
                self._create_view(connection, Manifest())
                yield connection
            finally:
                connection.close()
            return
        if compact:
            with contextlib.suppress(StoreError):
                self.compact()
        try:
            with self._locked(fcntl.LOCK_SH):
                connection = duckdb.connect()
                try:
                    self._create_view(connection, self.manifest())
                    yield connection
                finally:
                    connection.close()
        except OSError as exc:
            raise StoreError(f"cannot read the results store {self.root}: {exc.strerror or exc}") from None

    def _create_view(self, connection: Any, manifest: Manifest) -> None:
        columns = ", ".join(f'"{name}" {kind}' for name, kind in schema.duckdb_columns().items())
        if not manifest.parts:
            connection.execute(f"CREATE TABLE {schema.TABLE} ({columns})")
            return
        files = ", ".join(f"'{self.parts / p['file']}'" for p in manifest.parts)
        connection.execute(f"CREATE VIEW {schema.TABLE} AS SELECT * FROM read_parquet([{files}])")


def default_store(workdir: Path) -> Store:
    return Store(Path(workdir) / "results")


def spool_environment(store: Store, store_text: bool) -> Dict[str, Optional[str]]:
    """The API handler's environment that records into ``store`` (results_recorder.py)."""
    return {
        "RESULTS_DIR": str(store.spool.resolve()),
        "RESULTS_STORE_TEXT": "true" if store_text else "false",
        "RESULTS_HASH_KEY_FILE": None if store_text else str(store.key_file.resolve()),
        "RESULTS_STREAM": None,
    }
