"""The feed Lambda (functions/api/feed_handler.py) as AWS runs it: the DynamoDB state and the
Firehose sink through moto, the endpoint's answer stubbed, a feed served on loopback."""
from __future__ import annotations

import functools
import http.server
import json
import threading

import boto3
import pytest
from moto import mock_aws

from headlines.local.api_front import handler_environment, load_handler, patched_environ
from headlines.project import FUNCTIONS_DIR, ROOT

SAMPLE = ROOT / "headlines" / "sample_data"


@pytest.fixture()
def feeds_url():
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "feeds", 512, "arn:aws:lambda:::feeds", "req-1"


def answer(headlines):
    names = ["business", "science_technology", "entertainment", "health"]
    predictions = [{"category": names[i % 4], "label": "btem"[i % 4], "confidence": 0.6,
                    "scores": {n: (0.6 if n == names[i % 4] else 0.4 / 3) for n in names}} for i, _ in enumerate(headlines)]
    return {"predictions": predictions, "model": {"version": "lambda0000000001"}}


@mock_aws
def test_the_lambda_records_new_items_through_firehose_once(feeds_url, monkeypatch, capsys):
    region = "us-east-1"
    dynamodb = boto3.client("dynamodb", region_name=region)
    dynamodb.create_table(TableName="seen", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket="results")
    firehose = boto3.client("firehose", region_name=region)
    firehose.create_delivery_stream(DeliveryStreamName="headlines-dev-results", DeliveryStreamType="DirectPut",
                                    ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/f",
                                                                        "BucketARN": "arn:aws:s3:::results"})
    feeds = [f"{feeds_url}/sample-feed.xml", f"{feeds_url}/sample-feed.atom", f"{feeds_url}/missing.xml"]
    env = {k: v for k, v in handler_environment("http://127.0.0.1:9").items() if k != "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"}
    env.update(FEEDS=json.dumps(feeds), FEEDS_TABLE="seen", RESULTS_STREAM="headlines-dev-results", RESULTS_STORE_TEXT="true",
               RESULTS_DIR=None, AWS_DEFAULT_REGION=region, AWS_REGION=region, POWERTOOLS_METRICS_DISABLED="false",
               POWERTOOLS_SERVICE_NAME="headlines-feeds", POWERTOOLS_METRICS_NAMESPACE="headlines")
    module = load_handler(env, FUNCTIONS_DIR / "api" / "feed_handler.py")
    sent = []
    monkeypatch.setattr(module.endpoint, "invoke", lambda headlines: sent.append(list(headlines)) or answer(headlines))
    with patched_environ(env):
        first = module.handler({}, Context())
        second = module.handler({}, Context())
    assert first == {"feeds": 3, "failed": 1, "recorded": 20}
    assert second == {"feeds": 3, "failed": 1, "recorded": 0}  # each item once
    assert sum(len(batch) for batch in sent) == 20
    out = capsys.readouterr().out
    failed = [json.loads(line) for line in out.splitlines() if '"FeedFailed"' in line and '"_aws"' in line]
    assert {doc["feed"] for doc in failed} == {f"{feeds_url}/missing.xml"}  # one metric per failing feed, by feed
    items = dynamodb.scan(TableName="seen")["Items"]
    assert len(items) == 20 and all(int(item["expires"]["N"]) > 0 for item in items)
