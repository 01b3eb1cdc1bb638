"""The local endpoint: AWS's MXNet serving toolkit behind Multi Model Server (the container),
and the local SageMaker runtime API in front of it, whose answers a real boto3 client parses
with botocore's service model (the shapes the Lambda meets in AWS)."""
from __future__ import annotations

import http.client
import json
import os
import time

import boto3
import pytest
from botocore.config import Config

from headlines.local.endpoint import LocalServeError, check_model_dir, free_mms_port, start_model_server
from headlines.local.http_server import start_in_thread
from headlines.local.runtime_api import RuntimeApiServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-api")]


def client(service, url):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}))


def raw(url, method, path, body=None, headers=None):
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_container_answers_ping_and_invocations(fake_container):
    server, _ = fake_container
    assert server.ping()
    status, body = server.request("POST", "/invocations", b'{"headlines": ["a", "bb"]}')
    assert status == 200 and len(json.loads(body)["predictions"]) == 2
    status, body = server.request("POST", "/invocations", b"one\ntwo\nthree", "text/csv")
    assert status == 200 and len(json.loads(body)["predictions"]) == 3


def test_the_toolkit_answers_errors_with_their_status_and_a_traceback(fake_container):
    server, _ = fake_container
    status, body = server.request("POST", "/invocations", b'{"headline": "__bad__"}')
    assert status == 400 and body.startswith(b"the model refuses this headline\nTraceback")
    status, body = server.request("POST", "/invocations", b'{"headline": "__boom__"}')
    assert status == 500 and b"secret internal detail" in body


@pytest.mark.parametrize("body, content_type, count", [
    (b'{"headline": "one"}', "application/json", 1),
    (b'{"headlines": ["one", "two"]}', "application/json", 2),
    (b"one\ntwo\nthree", "text/csv", 3),
])
def test_boto3_invoke_endpoint(fake_container, body, content_type, count):
    _, url = fake_container
    answer = client("sagemaker-runtime", url).invoke_endpoint(EndpointName="headlines-test", Body=body,
                                                              ContentType=content_type, Accept="application/json")
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert len(json.loads(answer["Body"].read())["predictions"]) == count


@pytest.mark.parametrize("headline, original_status", [("__bad__", 400), ("__boom__", 500)])
def test_boto3_model_error_shape(fake_container, headline, original_status):
    _, url = fake_container
    runtime = client("sagemaker-runtime", url)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName="headlines-test", Body=json.dumps({"headline": headline}),
                                ContentType="application/json")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == original_status
    # As in AWS: the container's body, traceback included (the Lambda must not forward it).
    assert "Traceback (most recent call last)" in response["OriginalMessage"]
    assert response["LogStreamArn"].startswith("arn:aws:logs:")
    assert f"({original_status}) from primary" in response["Error"]["Message"]


def test_boto3_unknown_endpoint(fake_container):
    _, url = fake_container
    runtime = client("sagemaker-runtime", url)
    with pytest.raises(runtime.exceptions.ValidationError, match="not found"):
        runtime.invoke_endpoint(EndpointName="nope", Body=b"{}", ContentType="application/json")


def test_boto3_describe_endpoint(fake_container):
    _, url = fake_container
    answer = client("sagemaker", url).describe_endpoint(EndpointName="headlines-test")
    assert answer["EndpointStatus"] == "InService" and answer["EndpointName"] == "headlines-test"
    with pytest.raises(client("sagemaker", url).exceptions.ClientError, match="Could not find"):
        client("sagemaker", url).describe_endpoint(EndpointName="nope")


def test_a_container_that_does_not_answer():
    runtime_api = RuntimeApiServer(("127.0.0.1", 0), "127.0.0.1", free_mms_port(), "headlines-test")
    stop = start_in_thread(runtime_api)
    try:
        url = f"http://127.0.0.1:{runtime_api.port}"
        runtime = client("sagemaker-runtime", url)
        with pytest.raises(runtime.exceptions.ServiceUnavailable):
            runtime.invoke_endpoint(EndpointName="headlines-test", Body=b"{}", ContentType="application/json")
        answer = client("sagemaker", url).describe_endpoint(EndpointName="headlines-test")
        assert answer["EndpointStatus"] == "OutOfService" and answer["FailureReason"]
    finally:
        stop()


def test_malformed_framing_is_a_400_validation_error(fake_container):
    _, url = fake_container
    status, headers, body = raw(url, "POST", "/endpoints/headlines-test/invocations", b"{}",
                                {"Content-Length": "-1", "Content-Type": "application/json"})
    assert status == 400 and headers["x-amzn-ErrorType"] == "ValidationError"


def test_an_incomplete_artifact_is_one_line(tmp_path, fake_model_dir):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("", encoding="utf-8")
    with pytest.raises(LocalServeError, match=r"vocab\.json.* missing"):
        check_model_dir(tmp_path)
    with pytest.raises(LocalServeError, match="no such model folder"):
        start_model_server(tmp_path / "nowhere")


def test_stop_leaves_no_process_behind(fake_model_dir):
    server = start_model_server(fake_model_dir, workers=1)
    java, workers = server.java_pid(), server.worker_pids()
    assert java and workers
    server.stop()
    time.sleep(0.5)  # init reaps the detached ones
    left = [pid for pid in [java, *workers] if os.path.exists(f"/proc/{pid}")]
    assert not left, "processes of the model server outlived stop()"
    assert not server.base_dir.exists()
