"""One run over a list of feeds: fetch, parse, claim the new items, classify, record.

Each feed is on its own: a failure (download, parse, classification) is one outcome with one
line, and the other feeds go on. Items whose classification or recording failed are released
(``feed_seen.py``), so the next run tries them again. The feed Lambda (``feed_handler.py``) and
``headlines feed`` give the loader, the classifier and the recorder.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from feed_reader import FeedError, FeedItem, FeedLimits, batches, parse
from feed_seen import SeenStore

Loader = Callable[[str, FeedLimits], bytes]  # feed -> body (FeedError when it cannot)
Classifier = Callable[[List[str]], List[Dict[str, Any]]]  # headlines -> predictions, in order
# (feed, items, their predictions): keeps one batch's records, raises when it cannot
Recorder = Callable[[str, List[FeedItem], List[Dict[str, Any]]], None]
FETCH_WORKERS = 8


@dataclass
class FeedOutcome:
    feed: str
    new: int = 0
    seen: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None

    def line(self) -> str:
        if self.error:
            return f"feed {self.feed}: error: {self.error}"
        skipped = "".join(f", {count} skipped ({reason})" for reason, count in sorted(self.skipped.items()))
        return f"feed {self.feed}: {self.new} new, {self.seen} seen before{skipped}"


def read_feeds(feeds: Sequence[str], *, load: Loader, limits: FeedLimits, seen: SeenStore, classify: Classifier,
               record: Recorder, batch_size: int) -> List[FeedOutcome]:
    """One outcome per feed, in the given order; downloads run side by side."""
    def fetch_one(feed: str) -> Any:
        try:
            return load(feed, limits)
        except FeedError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(FETCH_WORKERS, len(feeds)))) as pool:
        bodies = list(pool.map(fetch_one, feeds))
    return [_one(feed, body, limits=limits, seen=seen, classify=classify, record=record, batch_size=batch_size)
            for feed, body in zip(feeds, bodies)]


def _one(feed: str, body: Any, *, limits: FeedLimits, seen: SeenStore, classify: Classifier, record: Recorder,
         batch_size: int) -> FeedOutcome:
    outcome = FeedOutcome(feed)
    if isinstance(body, FeedError):
        outcome.error = str(body)
        return outcome
    try:
        parsed = parse(body, limits)
    except FeedError as exc:
        outcome.error = str(exc)
        return outcome
    outcome.skipped = parsed.skipped
    claimed = set(seen.claim(feed, [item.key for item in parsed.items]))
    fresh = [item for item in parsed.items if item.key in claimed]
    outcome.seen = len(parsed.items) - len(fresh)
    try:
        for batch in batches(fresh, batch_size):
            predictions = classify([item.title for item in batch])
            if len(predictions) != len(batch):
                raise FeedError(f"the model answered {len(predictions)} predictions for {len(batch)} headlines")
            record(feed, batch, predictions)
            outcome.new += len(batch)
    except Exception as exc:  # noqa: BLE001 - any failure: release what is not recorded, report one line
        unrecorded = fresh[outcome.new:]
        seen.release(feed, [item.key for item in unrecorded])
        outcome.error = (f"{outcome.new} new items recorded, {len(unrecorded)} not (tried again next run): "
                         f"{_one_line(exc)}")
    return outcome


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
