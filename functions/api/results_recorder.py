"""Turns each answer of ``POST /v1/classify`` into result records (``results_record.py``) and
hands them to the sink the environment names (``results_sink.py``).

The environment (besides the sink's ``RESULTS_STREAM`` / ``RESULTS_DIR``):

- ``RESULTS_STORE_TEXT``: ``true`` (the default) keeps each headline's text; ``false`` keeps its
  keyed hash instead (``cdk.json`` ``headlines.results.store_text``).
- the hash's key, needed only when the text is not stored: ``RESULTS_HASH_KEY_FILE``, a file
  holding it (locally: ``<workdir>/results/hash.key``, made on first use, mode 0600), or
  ``RESULTS_HASH_KEY_SECRET``, a Secrets Manager secret (name or ARN) read once at the cold start
  (AWS). Without a key nothing is recorded: every record is counted as dropped, never written
  with its text.

Recording never fails an answer: whatever goes wrong is counted by the sink and logged.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import results_record
import results_sink

STORE_TEXT_VARIABLE = "RESULTS_STORE_TEXT"
KEY_FILE_VARIABLE = "RESULTS_HASH_KEY_FILE"
KEY_SECRET_VARIABLE = "RESULTS_HASH_KEY_SECRET"
KEY_BYTES = 32
_log = logging.getLogger(__name__)


def key_from_file(path: Path) -> bytes:
    """The key in ``path``; a new random one is written there (mode 0600) when there is none."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES))
    try:
        os.link(temporary, path)  # the first process to make the key wins; the others read it
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def _key_from_secret(secret_id: str) -> bytes:
    import boto3

    answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    return answer.get("SecretBinary") or answer["SecretString"].encode("utf-8")


def _hash_key(environ: Mapping[str, str]) -> Optional[bytes]:
    try:
        if environ.get(KEY_FILE_VARIABLE):
            return key_from_file(Path(environ[KEY_FILE_VARIABLE]))
        if environ.get(KEY_SECRET_VARIABLE):
            return _key_from_secret(environ[KEY_SECRET_VARIABLE])
    except Exception as exc:  # noqa: BLE001 - no key means no records (counted), never a failed cold start
        _log.warning("no key for the headlines' hash (%s: %s): results are not recorded", type(exc).__name__, exc)
    return None


class Recorder:
    """Records answers through ``sink``; ``hash_key`` set means the text is not stored."""

    def __init__(self, sink: results_sink.Sink, store_text: bool = True, hash_key: Optional[bytes] = None,
                 source: str = "api"):
        self.sink = sink
        self.store_text = store_text
        self.hash_key = None if store_text else hash_key
        self.source = source

    @property
    def enabled(self) -> bool:
        return self.sink.enabled

    def record(self, headlines: List[str], predictions: List[Mapping[str, Any]], *, request_id: str,
               model_version: str, latency_ms: float, feed: Optional[str] = None, link: Optional[str] = None) -> None:
        """Record one prediction per headline (same order); never raises."""
        if not self.sink.enabled:
            return
        if not self.store_text and self.hash_key is None:
            self.sink.drop(len(headlines), "no key for the headlines' hash")
            return
        records: List[Dict[str, Any]] = []
        when = time.time()  # one answer, one time
        for headline, prediction in zip(headlines, predictions):
            try:
                records.append(results_record.build(
                    prediction, headline=headline, request_id=request_id, source=self.source,
                    model_version=model_version, latency_ms=latency_ms, when=when, hash_key=self.hash_key, feed=feed, link=link))
            except (results_record.RecordError, TypeError, ValueError) as exc:
                self.sink.drop(1, f"not a valid record: {exc}")
        self.sink.put(records)


def from_environ(environ: Mapping[str, str], on_drop: Optional[Callable[[int, str], None]] = None,
                 source: str = "api") -> Recorder:
    """The recorder this environment configures (one that records nothing when no sink is named)."""
    sink = results_sink.from_environ(environ, on_drop)
    store_text = environ.get(STORE_TEXT_VARIABLE, "true").strip().lower() not in ("false", "0", "no")
    key = None if store_text or not sink.enabled else _hash_key(environ)
    return Recorder(sink, store_text, key, source)
