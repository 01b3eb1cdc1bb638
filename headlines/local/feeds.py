"""``headlines feed``: the feed Lambda's code (``functions/api/feed_handler.py``) run locally.

It classifies through the local SageMaker runtime API of the running ``headlines serve`` /
``make up`` (found through ``<workdir>/serving.json``, headlines/local/serving_state.py), with
the API handler's environment, and records into the same local store's spool
(``<workdir>/results``; ``headlines results summary`` reads it). The items already taken are
remembered in ``<workdir>/feeds/seen.json``. A source is an http(s) URL or a file.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence

from headlines.config import load_config
from headlines.errors import UserError
from headlines.local.api_front import handler_environment, load_handler, patched_environ
from headlines.local.serving_state import STATE_FILE, read_state
from headlines.project import FUNCTIONS_DIR
from headlines.results.store import default_store

FEED_HANDLER = FUNCTIONS_DIR / "api" / "feed_handler.py"
SEEN_FILE = Path("feeds") / "seen.json"


class NoLocalEndpoint(UserError):
    """No ``headlines serve`` runs for this work directory."""


def feed_environment(workdir: Path, endpoint_url: str, endpoint_name: str, model_version: Optional[str]) -> Dict[str, Optional[str]]:
    feeds = load_config().results.feeds
    env = handler_environment(endpoint_url, endpoint_name, model_version, results=default_store(workdir))
    env.update({
        "POWERTOOLS_SERVICE_NAME": "headlines-feeds",
        # the command prints one line per feed itself (the Lambda logs them as JSON)
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "FEEDS_STATE_FILE": str((workdir / SEEN_FILE).resolve()),
        "FEEDS_TABLE": None,
        "FEED_TIMEOUT_SECONDS": str(feeds.timeout_seconds),
        "FEED_MAX_BYTES": str(feeds.max_bytes),
        "FEED_MAX_ITEMS": str(feeds.max_items),
    })
    return env


class LocalFeedReader:
    """The feed handler loaded once (a cold start), run as often as asked."""

    def __init__(self, workdir: Path, endpoint_url: Optional[str] = None):
        workdir = Path(workdir)
        if endpoint_url is None:
            state = read_state(workdir / STATE_FILE)
            if state is None:
                raise NoLocalEndpoint(f"no local endpoint runs for {workdir}: start `headlines serve` (or `make up`) "
                                      "in another terminal first")
            endpoint_url, name, version = state.endpoint_url, state.endpoint_name, state.model_version
        else:
            name, version = "headlines", None
        self.environment = feed_environment(workdir, endpoint_url, name, version)
        self.module: ModuleType = load_handler(self.environment, FEED_HANDLER)
        self.reader = importlib.import_module("feed_reader")  # beside the handler, on sys.path now

    def load(self, source: str, limits: Any) -> bytes:
        if source.lower().startswith(("http://", "https://")):
            return self.reader.fetch(source, limits)
        return self.reader.read_file(source, limits)

    def run(self, sources: Sequence[str]) -> List[Any]:
        """One outcome per source (``.line()`` is its one line)."""
        with patched_environ(self.environment):
            environ = {name: value for name, value in self.environment.items() if value is not None}
            return list(self.module.run(list(sources), environ, load=self.load))
