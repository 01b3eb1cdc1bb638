"""Which feed items were already classified: each item is recorded once.

An item is *claimed* before it is classified (a claim that exists already means "seen") and
*released* when it could not be classified and recorded, so that the next run tries it again:
nothing is recorded twice, nothing accepted is dropped. Two stores, one interface:

- ``DynamoSeen`` (AWS): one DynamoDB item per (feed, key), claimed with a conditional PutItem,
  so runs that overlap (a retried invocation) never both take an item; expired by TTL
  (docs/architecture.md, "Feed state in DynamoDB").
- ``FileSeen`` (local mode): one JSON file under the work directory, written to a temporary
  name and renamed, bounded per feed.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Protocol, Union

SEEN_DAYS = 30  # a feed item older than this is no longer in the feed
FILE_KEYS_PER_FEED = 20_000


class SeenStore(Protocol):
    def claim(self, feed: str, keys: List[str]) -> List[str]:
        """The keys not seen before, now claimed (in the given order)."""

    def release(self, feed: str, keys: List[str]) -> None:
        """Forget claims whose items were not recorded."""


def item_id(feed: str, key: str) -> str:
    """DynamoDB's key: a hash (feed URLs and guids can be long)."""
    return hashlib.sha256(f"{feed}\n{key}".encode("utf-8")).hexdigest()


class DynamoSeen:
    def __init__(self, table: str, client: Any, days: int = SEEN_DAYS):
        self.table, self.client, self.days = table, client, days

    def claim(self, feed: str, keys: List[str]) -> List[str]:
        expires = int(time.time()) + self.days * 86400
        claimed = []
        for key in keys:
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={"id": {"S": item_id(feed, key)}, "feed": {"S": feed[:1024]}, "expires": {"N": str(expires)}},
                    ConditionExpression="attribute_not_exists(id)",
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
            claimed.append(key)
        return claimed

    def release(self, feed: str, keys: List[str]) -> None:
        for key in keys:
            self.client.delete_item(TableName=self.table, Key={"id": {"S": item_id(feed, key)}})


class FileSeen:
    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)

    def _load(self) -> Dict[str, Dict[str, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # unreadable state: items may be recorded again, never lost
        return data if isinstance(data, dict) else {}

    def _save(self, state: Dict[str, Dict[str, float]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=self.path.parent, prefix=".seen-", delete=False)
        try:
            with handle:
                json.dump(state, handle)
            os.replace(handle.name, self.path)
        except BaseException:
            os.unlink(handle.name)
            raise

    def claim(self, feed: str, keys: List[str]) -> List[str]:
        state = self._load()
        known = state.setdefault(feed, {})
        now = time.time()
        claimed = [key for key in dict.fromkeys(keys) if key not in known]
        known.update({key: now for key in claimed})
        if len(known) > FILE_KEYS_PER_FEED:  # keep the newest
            state[feed] = dict(sorted(known.items(), key=lambda kv: kv[1])[-FILE_KEYS_PER_FEED:])
        if claimed:
            self._save(state)
        return claimed

    def release(self, feed: str, keys: List[str]) -> None:
        state = self._load()
        known = state.get(feed, {})
        for key in keys:
            known.pop(key, None)
        self._save(state)
