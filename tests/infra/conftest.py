"""Fixtures of the CDK synthesis tests: one synthesis shared by the modules of a worker."""
from __future__ import annotations

import json
from typing import Dict

import pytest
from infra_support import Synth, synthesize


@pytest.fixture(scope="session")
def _synth_cache() -> Dict[str, Synth]:
    return {}


@pytest.fixture(scope="module")
def dev(tmp_path_factory, _synth_cache) -> Synth:
    """Defaults (dev stage, instance serving) and no context at all, as plain `npx cdk synth`.

    Synthesized once per worker and shared by the modules marked ``xdist_group("infra")``
    (they run on the same worker with ``--dist loadgroup``).
    """
    if "dev" not in _synth_cache:
        _synth_cache["dev"] = synthesize(tmp_path_factory.mktemp("cdk-dev"), {})
    return _synth_cache["dev"]


#: The feeds of the ``with_feeds`` synthesis (the feed reader exists only when some are configured).
FEEDS = ["https://example.com/news/rss.xml", "https://example.org/atom.xml"]


@pytest.fixture(scope="module")
def with_feeds(tmp_path_factory, _synth_cache) -> Synth:
    """Feeds configured (every minute) and a 30-day retention: the feed reader, its table and schedule."""
    if "feeds" not in _synth_cache:
        _synth_cache["feeds"] = synthesize(tmp_path_factory.mktemp("cdk-feeds"), {
            "headlines.results.feeds.urls": json.dumps(FEEDS), "headlines.results.feeds.interval_minutes": "1",
            "headlines.results.retention_days": "30"})
    return _synth_cache["feeds"]
