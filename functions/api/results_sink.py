"""Where result records go: a Kinesis Data Firehose delivery stream in AWS, a spool directory
locally, or nowhere.

``from_environ`` picks the sink from the function's environment:

- ``RESULTS_STREAM``: the name of the Firehose delivery stream (AWS; the serving stack sets it).
- ``RESULTS_DIR``: the local spool directory (``headlines serve`` sets it under the work
  directory; ``headlines/results/`` compacts it into the Parquet store).
- neither: nothing is recorded.

A sink's ``put(records)`` never raises into the answer's path: a record it cannot keep is
counted in ``dropped`` and reported to ``on_drop(count, reason)`` (the API publishes it as the
``ResultsDropped`` metric) and logged, never silently lost.

The spool (standard library only): each process appends to its own ``*.jsonl`` file, one
``os.write`` per request (its records as whole lines) on an ``O_APPEND`` descriptor, so records
of processes writing at once never interleave, and ``kill -9`` loses at most what is being
written (a line without its newline, which the compaction skips). The writer holds an exclusive ``flock`` on its file while it is
open: a file whose lock is free is finished (closed, or its process gone) and the compaction may
delete it once read. A file is created under a hidden temporary name and renamed once locked, so
the compaction never sees an unlocked file that is still to be written.
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence

from results_record import to_line

STREAM_VARIABLE = "RESULTS_STREAM"
DIRECTORY_VARIABLE = "RESULTS_DIR"
SPOOL_SUFFIX = ".jsonl"
# A spool file is closed and a new one started past this size, so the compaction can delete
# what it has read.
SPOOL_FILE_BYTES = 8 * 1024 * 1024
# PutRecordBatch's limits: 500 records and 4 MiB per call, 1,000 KiB per record.
FIREHOSE_BATCH_RECORDS = 500
FIREHOSE_BATCH_BYTES = 4 * 1024 * 1024
FIREHOSE_RECORD_BYTES = 1000 * 1024

OnDrop = Callable[[int, str], None]
_log = logging.getLogger(__name__)


class Sink:
    """Keeps records; ``put`` never raises. The base class keeps nothing (recording is off)."""

    enabled = False

    def __init__(self, on_drop: Optional[OnDrop] = None):
        self.dropped = 0
        self._on_drop = on_drop

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Keep ``records``; count what cannot be kept."""

    def close(self) -> None:
        """Release what the sink holds."""

    def drop(self, count: int, reason: str) -> None:
        """Count ``count`` records that could not be kept, and report them."""
        if count <= 0:
            return
        self.dropped += count
        _log.warning("result records dropped: %d (%s); %d in all", count, reason, self.dropped)
        if self._on_drop is not None:
            try:
                self._on_drop(count, reason)
            except Exception:  # noqa: BLE001 - a failing metric must not fail the answer either
                _log.exception("could not report dropped records")


class SpoolSink(Sink):
    """Appends records as JSON lines to this process's own file in ``directory``."""

    enabled = True

    def __init__(self, directory: str, on_drop: Optional[OnDrop] = None, max_bytes: int = SPOOL_FILE_BYTES):
        super().__init__(on_drop)
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._fd: Optional[int] = None
        self._pid = 0
        self._size = 0

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        hidden = self.directory / f".{name}.tmp"
        fd = os.open(hidden, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(hidden, self.directory / f"{name}{SPOOL_SUFFIX}")
        except OSError:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        self._fd, self._pid, self._size = fd, os.getpid(), 0
        return fd

    def _descriptor(self) -> int:
        if self._fd is not None and self._pid != os.getpid():
            self._fd = None  # a forked child: the parent's file (and lock) is not ours
        if self._fd is not None and self._size >= self.max_bytes:
            self.close()
        return self._fd if self._fd is not None else self._open()

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        lines: List[bytes] = []
        for record in records:
            try:
                lines.append(to_line(record))
            except (ValueError, TypeError) as exc:  # not JSON: that record only
                self.drop(1, f"{type(exc).__name__}: {exc}")
        if not lines:
            return
        # One write for the request's records: whole lines, one system call (a regular file's
        # write is not interrupted by a signal, so kill -9 lands before or after it).
        data = b"".join(lines)
        try:
            written = os.write(self._descriptor(), data)
        except OSError as exc:  # a full disk, a broken store
            self.close()
            self.drop(len(lines), f"{type(exc).__name__}: {exc}")
            return
        self._size += written
        if written != len(data):
            # A short write (the disk filled up): the records cut off are lost, and nothing is
            # ever appended after a torn line (the compaction skips it); a new file is started.
            self.close()
            self.drop(len(lines) - data[:written].count(b"\n"), "short write")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._pid == os.getpid():
            try:
                os.close(fd)  # releases the lock: the file is finished
            except OSError:
                pass


class FirehoseSink(Sink):
    """Sends records to a Kinesis Data Firehose delivery stream with ``PutRecordBatch``.

    Records that Firehose refuses (``FailedPutCount``, throttling) are sent once more; what is
    still refused, or a call that fails, is counted as dropped. The client's timeouts are short:
    the put runs before the answer returns (Lambda freezes the environment after it).
    """

    enabled = True

    def __init__(self, stream: str, on_drop: Optional[OnDrop] = None, client: Any = None):
        super().__init__(on_drop)
        self.stream = stream
        if client is None:
            import boto3  # in the Lambda runtime; only this sink needs it
            from botocore.config import Config

            client = boto3.client("firehose", config=Config(
                connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}))
        self.client = client

    def _batches(self, lines: List[bytes]) -> List[List[bytes]]:
        batches: List[List[bytes]] = []
        size = 0
        for line in lines:
            if not batches or len(batches[-1]) >= FIREHOSE_BATCH_RECORDS or size + len(line) > FIREHOSE_BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(line)
            size += len(line)
        return batches

    def _send(self, batch: List[bytes]) -> List[bytes]:
        """The records of ``batch`` that Firehose did not take."""
        answer = self.client.put_record_batch(DeliveryStreamName=self.stream,
                                              Records=[{"Data": line} for line in batch])
        if not answer.get("FailedPutCount"):
            return []
        responses = answer.get("RequestResponses") or []
        return [line for line, response in zip(batch, responses) if response.get("ErrorCode")]

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        lines: List[bytes] = []
        for record in records:
            try:
                line = to_line(record)
            except (ValueError, TypeError) as exc:
                self.drop(1, f"{type(exc).__name__}: {exc}")
                continue
            if len(line) > FIREHOSE_RECORD_BYTES:
                self.drop(1, "record larger than Firehose's 1,000 KiB")
                continue
            lines.append(line)
        for batch in self._batches(lines):
            try:
                failed = self._send(batch)
                if failed:
                    failed = self._send(failed)
            except (ClientError, BotoCoreError) as exc:
                self.drop(len(batch), f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            self.drop(len(failed), "refused by Firehose (FailedPutCount)")


def from_environ(environ: Mapping[str, str], on_drop: Optional[OnDrop] = None) -> Sink:
    """The sink the environment names: Firehose (``RESULTS_STREAM``), the spool
    (``RESULTS_DIR``), or one that keeps nothing."""
    stream = environ.get(STREAM_VARIABLE, "").strip()
    if stream:
        return FirehoseSink(stream, on_drop)
    directory = environ.get(DIRECTORY_VARIABLE, "").strip()
    if directory:
        return SpoolSink(directory, on_drop)
    return Sink(on_drop)


__all__ = ["DIRECTORY_VARIABLE", "STREAM_VARIABLE", "FirehoseSink", "Sink", "SpoolSink", "from_environ"]
