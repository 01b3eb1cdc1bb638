"""The container's batch content types, through AWS's MXNet serving toolkit behind Multi Model
Server, as a SageMaker Batch Transform job calls it (``headlines.transform``): the transform's
``Environment`` over the Model's, ``text/plain`` mini-batches of lines split from the input, and
``application/jsonlines`` answers, one line per headline, in order; a full ``MaxPayloadInMB``
mini-batch is not refused by the model server."""
from __future__ import annotations

import json

import pytest

from headlines.config import load_config
from headlines.local.endpoint import start_model_server
from headlines.transform import INPUT_CONTENT_TYPE, OUTPUT_ACCEPT, container_environment, max_records

pytestmark = [pytest.mark.parity, pytest.mark.slow, pytest.mark.xdist_group("local-api")]

MAX_PAYLOAD_MB = load_config().batch.max_payload_mb


@pytest.fixture(scope="module")
def transform_container(tiny_model_dir, sagemaker_python):
    server = start_model_server(tiny_model_dir, workers=1,
                                environment=container_environment(max_records(MAX_PAYLOAD_MB), MAX_PAYLOAD_MB))
    yield server
    server.stop()


def invoke(server, body: bytes, content_type: str, accept: str):
    import http.client

    connection = http.client.HTTPConnection(server.host, server.port, timeout=300)
    try:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": accept})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def answers(payload: bytes) -> list:
    return [json.loads(line) for line in payload.decode("utf-8").splitlines()]


@pytest.mark.parametrize("body, content_type", [
    ("".join(f"Apple unveils iPhone {i}\n" for i in range(500)).encode(), INPUT_CONTENT_TYPE),
    ("".join(json.dumps({"headline": f"Apple unveils iPhone {i}"}) + "\n" for i in range(500)).encode(), "application/jsonlines"),
    ("".join(json.dumps(f"Apple unveils iPhone {i}") + "\n" for i in range(500)).encode(), "application/jsonlines"),
])
def test_a_mini_batch_gets_one_json_line_per_headline_in_order(transform_container, body, content_type):
    status, answer_type, payload = invoke(transform_container, body, content_type, OUTPUT_ACCEPT)
    assert status == 200, payload[:300]
    assert answer_type.startswith(OUTPUT_ACCEPT)
    records = answers(payload)
    assert [record["headline"] for record in records] == [f"Apple unveils iPhone {i}" for i in range(500)]
    for record in records:
        assert set(record) == {"headline", "label", "category", "confidence", "scores", "model_version"}
        assert abs(sum(record["scores"].values()) - 1) < 1e-3 and record["model_version"]


def test_the_answers_equal_the_json_answers(transform_container):
    texts = ["Fed raises interest rates again", "New Ebola case confirmed in Guinea", "Beyonce announces a world tour"]
    _, _, lines = invoke(transform_container, "\n".join(texts).encode(), INPUT_CONTENT_TYPE, OUTPUT_ACCEPT)
    _, _, document = invoke(transform_container, json.dumps({"headlines": texts}).encode(), "application/json", "application/json")
    expected = json.loads(document)["predictions"]
    assert [{key: record[key] for key in expected[0]} for record in answers(lines)] == expected


def test_a_full_mini_batch_of_max_payload_is_served(transform_container):
    """MaxPayloadInMB of lines in one request: the toolkit raises MMS's request limit to it."""
    line = b"Apple unveils a new iPhone with a bigger screen and a faster chip\n"
    body = line * ((MAX_PAYLOAD_MB * 1024 * 1024) // len(line))
    status, _, payload = invoke(transform_container, body, INPUT_CONTENT_TYPE, OUTPUT_ACCEPT)
    assert status == 200, payload[:300]
    assert payload.count(b"\n") == body.count(b"\n")


def test_a_bad_line_in_a_mini_batch_is_a_client_error(transform_container):
    status, _, payload = invoke(transform_container, b'{"headline": "ok"}\n{broken\n', "application/jsonlines", OUTPUT_ACCEPT)
    assert status == 400 and b"line 2 is not valid JSON" in payload
