"""The scheduled feed reader (EventBridge -> this Lambda; infra/feeds.py), and ``headlines feed``.

Reads the feeds of ``FEEDS`` (a JSON list of URLs; the local command passes its own), classifies
the new items through the same endpoint as the API (``model_endpoint.py``, with the API's
limits and timeouts) and records them with ``source=feed`` through the results sink
(``results_recorder.py``: Firehose in AWS, the spool locally; the text or its keyed hash as
``RESULTS_STORE_TEXT`` says). Which items were seen: a DynamoDB
table (``FEEDS_TABLE``) in AWS, a state file (``FEEDS_STATE_FILE``) locally (``feed_seen.py``).

One line per feed in the log; a failed feed is one ``FeedFailed`` metric (dimension ``feed``)
and never stops the others (``feed_run.py``). Batches whose records the sink could not keep
are released and tried again next run.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence

import api_settings
import results_recorder
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from feed_reader import FeedItem, FeedLimits, fetch
from feed_run import FeedOutcome, Loader, read_feeds
from feed_seen import DynamoSeen, FileSeen, SeenStore
from model_endpoint import ModelEndpoint

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "headlines-feeds")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Headlines")
FEED_METRICS = ("FeedFailed", "FeedItemsRecorded")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
SETTINGS = api_settings.from_environ(os.environ, logger.warning)
endpoint = ModelEndpoint(SETTINGS, metrics, logger)


def limits_from(environ: Mapping[str, str]) -> FeedLimits:
    return FeedLimits(
        max_bytes=int(environ.get("FEED_MAX_BYTES", FeedLimits.max_bytes)),
        timeout_seconds=float(environ.get("FEED_TIMEOUT_SECONDS", FeedLimits.timeout_seconds)),
        max_items=int(environ.get("FEED_MAX_ITEMS", FeedLimits.max_items)),
        max_title_chars=SETTINGS.limits.max_headline_chars,
    )


def seen_store(environ: Mapping[str, str]) -> SeenStore:
    table = environ.get("FEEDS_TABLE", "").strip()
    if table:
        import boto3

        return DynamoSeen(table, boto3.client("dynamodb"))
    return FileSeen(environ.get("FEEDS_STATE_FILE") or os.path.join(os.getcwd(), "feeds-seen.json"))


def _dropped(count: int, reason: str) -> None:
    metrics.add_metric(name="ResultsDropped", unit=MetricUnit.Count, value=count)


class FeedJob:
    """Classifies through ``endpoint`` and records through ``recorder``, one batch at a time."""

    def __init__(self, recorder: results_recorder.Recorder, run_id: str):
        self.recorder, self.run_id = recorder, run_id
        self._latency_ms = 0.0
        self._model_version = SETTINGS.model_version or "unknown"

    def classify(self, headlines: List[str]) -> List[Dict[str, Any]]:
        started = time.perf_counter()
        answer = endpoint.answer(endpoint.invoke(headlines), len(headlines), single=False)
        self._latency_ms = (time.perf_counter() - started) * 1000
        self._model_version = str(answer["model"].get("version") or self._model_version)
        return answer["predictions"]

    def record(self, feed: str, items: List[FeedItem], predictions: List[Dict[str, Any]]) -> None:
        """Raises when a record was not kept: the batch is then released and read again next run."""
        if not self.recorder.enabled:
            raise RuntimeError("no results sink is configured (RESULTS_STREAM or RESULTS_DIR)")
        sink = self.recorder.sink
        dropped = sink.dropped
        for item, prediction in zip(items, predictions):  # one call per item: each has its own link
            self.recorder.record([item.title], [prediction], request_id=self.run_id, model_version=self._model_version,
                                 latency_ms=self._latency_ms, feed=feed, link=item.link)
        if sink.dropped > dropped:
            raise RuntimeError(f"{sink.dropped - dropped} of {len(items)} records were not kept")


def run(feeds: Sequence[str], environ: Mapping[str, str], load: Loader = fetch, run_id: Optional[str] = None,
        recorder: Optional[results_recorder.Recorder] = None) -> List[FeedOutcome]:
    """One pass over ``feeds``: one outcome per feed."""
    job = FeedJob(recorder or results_recorder.from_environ(environ, _dropped, source="feed"), run_id or str(uuid.uuid4()))
    return read_feeds(list(feeds), load=load, limits=limits_from(environ), seen=seen_store(environ),
                      classify=job.classify, record=job.record, batch_size=SETTINGS.limits.max_batch_size)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: Any, context: Any) -> Dict[str, Any]:
    feeds = json.loads(os.environ.get("FEEDS", "[]"))
    outcomes = run(feeds, os.environ, run_id=getattr(context, "aws_request_id", None))
    for outcome in outcomes:
        if outcome.error:
            logger.warning(outcome.line())
            with single_metric(name="FeedFailed", unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                               default_dimensions={"service": SERVICE, "feed": outcome.feed[:1024]}):
                pass
        else:
            logger.info(outcome.line())
    metrics.add_metric(name="FeedItemsRecorded", unit=MetricUnit.Count, value=sum(o.new for o in outcomes))
    return {"feeds": len(outcomes), "failed": sum(1 for o in outcomes if o.error), "recorded": sum(o.new for o in outcomes)}
