"""Where records go (functions/api/results_sink.py): the factory, the local spool and Firehose.

A sink never raises into the answer's path; what it cannot keep is counted and reported. The
Firehose sink's requests are checked against botocore's model (the client validates them) and
sent to moto; its failures come from a botocore Stubber with the service's real shapes.
"""
from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from headlines.file_modules import load_lambda

sink_module = load_lambda("api", "results_sink")
record_module = load_lambda("api", "results_record")
PREDICTION = {"category": "business", "label": "b", "confidence": 0.8,
              "scores": {"business": 0.8, "science_technology": 0.1, "entertainment": 0.05, "health": 0.05}}


def records(count, **context):
    base = dict(headline="Stocks rise", request_id="r", source="api", model_version="v1", latency_ms=3.0)
    base.update(context)
    return [record_module.build(PREDICTION, **{**base, "request_id": f"r{i}"}) for i in range(count)]


class Drops:
    def __init__(self):
        self.calls = []

    def __call__(self, count, reason):
        self.calls.append((count, reason))

    @property
    def total(self):
        return sum(count for count, _ in self.calls)


def spooled(directory):
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_the_environment_picks_the_sink(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert not sink_module.from_environ({}).enabled
    assert isinstance(sink_module.from_environ({"RESULTS_DIR": str(tmp_path)}), sink_module.SpoolSink)
    firehose = sink_module.from_environ({"RESULTS_STREAM": "results", "RESULTS_DIR": str(tmp_path)})
    assert isinstance(firehose, sink_module.FirehoseSink) and firehose.stream == "results"


def test_the_spool_keeps_every_record_as_one_line(tmp_path):
    sink = sink_module.SpoolSink(str(tmp_path / "spool"))
    sent = records(3) + records(2, source="batch")
    sink.put(sent[:3])
    sink.put(sent[3:])
    assert spooled(tmp_path / "spool") == sent and sink.dropped == 0
    assert not list((tmp_path / "spool").glob(".*")), "no temporary file left"


def test_a_full_spool_file_is_closed_and_a_new_one_started(tmp_path):
    sink = sink_module.SpoolSink(str(tmp_path), max_bytes=1)
    for record in records(3):
        sink.put([record])
    assert len(list(tmp_path.glob("*.jsonl"))) == 3 and len(spooled(tmp_path)) == 3


def test_a_broken_spool_counts_drops_and_never_raises(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    drops = Drops()
    sink = sink_module.SpoolSink(str(blocker / "spool"), on_drop=drops)
    sink.put(records(2))
    sink.put(records(1))
    assert sink.dropped == 3 and drops.total == 3 and "NotADirectoryError" in drops.calls[0][1]


def test_a_full_disk_counts_drops_and_the_next_write_tries_again(tmp_path, monkeypatch):
    sink = sink_module.SpoolSink(str(tmp_path))
    real_write = os.write

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink_module.os, "write", full)
    sink.put(records(2))
    assert sink.dropped == 2
    monkeypatch.setattr(sink_module.os, "write", real_write)
    sink.put(records(1))
    assert sink.dropped == 2 and len(spooled(tmp_path)) == 1


def test_a_short_write_drops_what_it_cut_off_and_is_never_appended_to(tmp_path, monkeypatch):
    sink = sink_module.SpoolSink(str(tmp_path))
    real_write = os.write
    first = record_module.to_line(records(1)[0])
    # the disk fills up one line and ten bytes into a request of three records
    monkeypatch.setattr(sink_module.os, "write", lambda fd, data: real_write(fd, data[:len(first) + 10]))
    sink.put(records(3))
    monkeypatch.setattr(sink_module.os, "write", real_write)
    sink.put(records(1))
    assert sink.dropped == 2
    files = sorted(tmp_path.glob("*.jsonl"), key=lambda p: p.stat().st_size)
    assert len(files) == 2 and files[0].read_bytes().count(b"\n") == 1 and files[1].stat().st_size == len(first) + 10


def test_a_record_that_is_not_json_is_dropped_alone(tmp_path):
    sink = sink_module.SpoolSink(str(tmp_path))
    sink.put([{"bad": object()}] + records(1))
    assert sink.dropped == 1 and len(spooled(tmp_path)) == 1


def _delivery_stream(name="results"):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="results-bucket")
    firehose = boto3.client("firehose", region_name="us-east-1")
    firehose.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                            "BucketARN": "arn:aws:s3:::results-bucket"})
    return firehose


def test_firehose_gets_every_record_as_a_json_line_in_batches_of_at_most_500():
    with mock_aws():
        client = _delivery_stream()
        sent = []
        real_put = client.put_record_batch

        def counting_put(**kwargs):
            sent.append(len(kwargs["Records"]))
            return real_put(**kwargs)

        client.put_record_batch = counting_put
        drops = Drops()
        sink = sink_module.FirehoseSink("results", on_drop=drops, client=client)
        batch = records(501)
        sink.put(batch)
        assert sent == [500, 1] and sink.dropped == 0 and drops.calls == []
        s3 = boto3.client("s3", region_name="us-east-1")
        bodies = [s3.get_object(Bucket="results-bucket", Key=o["Key"])["Body"].read()
                  for o in s3.list_objects_v2(Bucket="results-bucket")["Contents"]]
        lines = [json.loads(line) for body in bodies for line in body.decode().splitlines()]
        assert sorted(r["request_id"] for r in lines) == sorted(r["request_id"] for r in batch)


def _stubbed():
    client = boto3.client("firehose", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_records_firehose_refuses_are_sent_once_more_then_counted():
    client, stubber = _stubbed()
    batch = records(3)
    lines = [{"Data": record_module.to_line(r)} for r in batch]
    refused = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
    stubber.add_response("put_record_batch", {"FailedPutCount": 2, "Encrypted": False, "RequestResponses": [
        {"RecordId": "a"}, refused, refused]}, {"DeliveryStreamName": "results", "Records": lines})
    stubber.add_response("put_record_batch", {"FailedPutCount": 1, "Encrypted": False, "RequestResponses": [
        {"RecordId": "b"}, refused]}, {"DeliveryStreamName": "results", "Records": lines[1:]})
    drops = Drops()
    with stubber:
        sink_module.FirehoseSink("results", on_drop=drops, client=client).put(batch)
    stubber.assert_no_pending_responses()
    assert drops.total == 1 and "FailedPutCount" in drops.calls[0][1]


@pytest.mark.parametrize("code", ["ServiceUnavailableException", "ResourceNotFoundException", "InvalidKMSResourceException"])
def test_a_failed_call_counts_its_records_and_never_raises(code):
    client, stubber = _stubbed()
    stubber.add_client_error("put_record_batch", service_error_code=code, http_status_code=400)
    drops = Drops()
    with stubber:
        sink = sink_module.FirehoseSink("results", on_drop=drops, client=client)
        sink.put(records(4))
    assert sink.dropped == 4 and code in drops.calls[0][1]


def test_a_failing_drop_report_does_not_fail_the_answer(tmp_path):
    def broken(count, reason):
        raise ClientError({"Error": {"Code": "x"}}, "op")

    sink = sink_module.SpoolSink(str(tmp_path / "file"), on_drop=broken)
    (tmp_path / "file").write_text("")
    sink.put(records(1))
    assert sink.dropped == 1


def test_the_batch_limits_are_botocores_model_of_put_record_batch():
    import botocore.session

    operation = botocore.session.get_session().get_service_model("firehose").operation_model("PutRecordBatch")
    records = operation.input_shape.members["Records"]
    assert sink_module.FIREHOSE_BATCH_RECORDS == records.metadata["max"]
    assert sink_module.FIREHOSE_RECORD_BYTES == records.member.members["Data"].metadata["max"]
    assert set(operation.input_shape.required_members) == {"DeliveryStreamName", "Records"}


def test_an_empty_put_sends_nothing_and_a_huge_record_is_dropped_alone():
    client, stubber = _stubbed()
    with stubber:  # no response queued: any call would fail the test
        sink = sink_module.FirehoseSink("results", client=client)
        sink.put([])
        sink.put([dict(records(1)[0], headline="x" * (sink_module.FIREHOSE_RECORD_BYTES + 1))])
    assert sink.dropped == 1
