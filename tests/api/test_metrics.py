"""The handler's CloudWatch metrics: EMF lines written by Powertools' ``@metrics.log_metrics``,
and nothing at all where metrics are off (local mode)."""
from __future__ import annotations

import io
import json

from api_support import invoke, load_app, make_event
from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider
from botocore.response import StreamingBody
from botocore.stub import Stubber

ONE = "Fed raises interest rates again"
ANSWER = json.dumps({"predictions": [{"label": "b", "category": "business", "confidence": 0.7,
                                      "scores": {"business": 0.7, "science_technology": 0.1,
                                                 "entertainment": 0.1, "health": 0.1}}],
                     "model": {"version": "v1"}}).encode()


def _classify(module) -> int:
    with Stubber(module.runtime) as stub:
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(ANSWER), len(ANSWER))})
        return invoke(module, make_event(body={"headline": ONE})).status


def _emf_lines(text: str):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_classification_writes_the_same_metrics_as_emf(capsys):
    module = load_app(POWERTOOLS_METRICS_DISABLED="false", POWERTOOLS_METRICS_NAMESPACE="headlines")
    reset_cold_start_flag_provider()
    capsys.readouterr()
    assert _classify(module) == 200
    lines = _emf_lines(capsys.readouterr().out)
    cold = [line for line in lines if "ColdStart" in line]
    assert cold and cold[0]["function_name"] == "headlines-api" and cold[0]["service"] == "headlines-api"
    (request,) = [line for line in lines if "HeadlinesClassified" in line]
    directive = request["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "headlines" and directive["Dimensions"] == [["service"]]
    assert {metric["Name"] for metric in directive["Metrics"]} == {"HeadlinesClassified", "EndpointLatency"}
    assert request["HeadlinesClassified"] in (1.0, [1.0]) and request["service"] == "headlines-api"
    # the answer's category: its own line, with the category as a dimension
    (category,) = [line for line in lines if "CategoryHeadlines" in line]
    directive = category["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "headlines" and sorted(directive["Dimensions"][0]) == ["category", "service"]
    assert {metric["Name"] for metric in directive["Metrics"]} == {"CategoryHeadlines", "CategoryConfidence"}
    assert category["category"] == "business" and category["CategoryConfidence"] in (0.7, [0.7])
    # the next request: no cold start, its own metrics only (the set was flushed)
    assert _classify(module) == 200
    lines = _emf_lines(capsys.readouterr().out)
    assert len(lines) == 2
    assert [line["HeadlinesClassified"] for line in lines if "HeadlinesClassified" in line] in ([1.0], [[1.0]])
    assert [line["CategoryHeadlines"] for line in lines if "CategoryHeadlines" in line] in ([1.0], [[1.0]])


def test_a_request_without_metrics_writes_nothing(capsys):
    module = load_app(POWERTOOLS_METRICS_DISABLED="false")
    reset_cold_start_flag_provider()
    invoke(module, make_event(body={"headline": ONE}))  # warms up: the cold start
    capsys.readouterr()
    answer = invoke(module, make_event(method="GET", path="/v1/health", body=None))
    assert answer.status == 200
    captured = capsys.readouterr()
    assert _emf_lines(captured.out) == [] and "No application metrics" not in captured.err


def test_with_metrics_off_at_the_cold_start_nothing_is_written_or_kept(capsys):
    module = load_app()  # POWERTOOLS_METRICS_DISABLED=true while it loads, as the local front does
    capsys.readouterr()
    for _ in range(120):  # Powertools prints a set that reaches 100 values whatever its switch
        assert _classify(module) == 200
    assert _emf_lines(capsys.readouterr().out) == []
    assert not module.metrics.provider.metric_set
