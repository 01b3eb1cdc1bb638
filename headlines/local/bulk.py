"""Bulk scoring through the local SageMaker endpoint container (``headlines classify --input``).

The model runs as ``headlines serve`` runs it: AWS's MXNet serving toolkit behind Multi Model
Server (``headlines.local.endpoint``), one worker per CPU. This module reads headlines from a
stream (``headlines.bulk_input``), sends them ``LOCAL_BATCH_SIZE`` at a time to the container's
``POST /invocations`` (as a Batch Transform job calls it: no runtime API in between), keeps a
bounded number of batches in flight (two per worker: the workers never wait, memory stays flat
whatever the file's size) and writes the answers in input order as each batch comes back.
"""
from __future__ import annotations

import collections
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from headlines.bulk_input import BadRow, Item, Row
from headlines.local.endpoint import LocalServeError, ModelServer
from headlines.local.runtime_api import ContainerClient
from headlines.transform import LOCAL_BATCH_SIZE

Predictions = List[Mapping[str, Any]]
Batch = Tuple[List[int], List[str]]
_ATTEMPTS = 3


@dataclass
class Summary:
    scored: int = 0
    bad: int = 0
    model_version: str = ""
    seconds: float = 0.0


class BatchScorer:
    """POSTs batches of headlines to the container; a worker that died meanwhile (MMS replaces it)
    or a refused connection is retried, a client error is not (the input was checked before)."""

    def __init__(self, server: ModelServer):
        self.client = ContainerClient(server.host, server.port)
        self.model_version = ""

    def __call__(self, headlines: List[str]) -> Predictions:
        body = json.dumps({"headlines": headlines}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                status, _, payload = self.client.request("POST", "/invocations", body, headers)
            except OSError as error:
                if attempt == _ATTEMPTS:
                    raise LocalServeError(f"the model server stopped answering: {error}") from None
                time.sleep(attempt)
                continue
            if status == 200:
                answer = json.loads(payload)
                self.model_version = str(answer.get("model", {}).get("version", ""))
                return answer["predictions"]
            if status < 500 or attempt == _ATTEMPTS:
                detail = payload.decode("utf-8", "replace").strip().splitlines()[:1]
                raise LocalServeError(f"the model server answered {status}: {detail[0] if detail else 'no message'}")
            time.sleep(attempt)
        raise AssertionError("unreachable")


def _batches(items: Iterable[Item], size: int, on_bad: Callable[[BadRow], None]) -> Iterable[Batch]:
    lines: List[int] = []
    texts: List[str] = []
    for item in items:
        if isinstance(item, Row):
            lines.append(item.line)
            texts.append(item.text)
            if len(texts) == size:
                yield lines, texts
                lines, texts = [], []
        else:
            on_bad(item)
    if texts:
        yield lines, texts


def _timed(scorer: Callable[[List[str]], Predictions], texts: List[str]) -> Tuple[Predictions, float]:
    started = time.monotonic()
    predictions = scorer(texts)
    return predictions, (time.monotonic() - started) * 1000


def score(items: Iterable[Item], scorer: Callable[[List[str]], Predictions],
          write: Callable[[List[int], List[str], Predictions, float], None], *, in_flight: int,
          on_bad: Callable[[BadRow], None], on_scored: Optional[Callable[[int], None]] = None,
          batch_size: int = LOCAL_BATCH_SIZE) -> Summary:
    """Score ``items`` in order with ``in_flight`` batches at most under way; ``write`` gets each
    batch's line numbers, headlines, predictions and round trip (ms), in input order."""
    summary = Summary()
    started = time.monotonic()

    def bad(row: BadRow) -> None:
        summary.bad += 1
        on_bad(row)

    def drain_one(pending: Deque[Tuple[Batch, "Future[Tuple[Predictions, float]]"]]) -> None:
        (lines, texts), future = pending.popleft()
        write(lines, texts, *future.result())
        summary.scored += len(texts)
        if on_scored:
            on_scored(len(texts))

    pending: Deque[Tuple[Batch, "Future[Tuple[Predictions, float]]"]] = collections.deque()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="bulk") as pool:
        try:
            for batch in _batches(items, batch_size, bad):
                pending.append((batch, pool.submit(_timed, scorer, batch[1])))
                if len(pending) >= in_flight:
                    drain_one(pending)
            while pending:
                drain_one(pending)
        finally:
            for _, future in pending:
                future.cancel()
    summary.seconds = time.monotonic() - started
    return summary


def summary_fields(summary: Summary) -> Dict[str, Any]:
    rate = summary.scored / summary.seconds if summary.seconds else 0.0
    return {"scored": summary.scored, "bad_rows": summary.bad, "model_version": summary.model_version,
            "seconds": round(summary.seconds, 2), "headlines_per_second": round(rate, 1)}
