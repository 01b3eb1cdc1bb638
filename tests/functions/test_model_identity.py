"""The pipeline's model-identity function (functions/model_identity/): the version inside the artifact."""
from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from headlines.file_modules import load_lambda

identity = load_lambda("model_identity", "model_identity")


def _artifact(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_reads_model_version_from_metrics_json_in_s3():
    body = _artifact({"model-0000.params": b"x" * 1000, "./metrics.json": json.dumps({"model_version": "0123456789abcdef"}).encode()})
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="models/job/output/model.tar.gz", Body=body)
        version = identity.handler({"model_data_url": "s3://artifacts/models/job/output/model.tar.gz"}, None, client=s3)
    assert version == "0123456789abcdef"


@pytest.mark.parametrize("files, message", [
    ({"model-0000.params": b"x"}, "no metrics.json"),
    ({"metrics.json": b"{}"}, "has no model_version"),
    ({"metrics.json": b"not json"}, "not a readable model artifact"),
])
def test_an_artifact_without_a_version_is_one_line(files, message):
    with pytest.raises(identity.IdentityError, match=message) as error:
        identity.model_version_of(io.BytesIO(_artifact(files)), "s3://b/model.tar.gz")
    assert "\n" not in str(error.value)


def test_a_truncated_artifact_is_one_line():
    with pytest.raises(identity.IdentityError, match="not a readable model artifact"):
        identity.model_version_of(io.BytesIO(_artifact({"metrics.json": b"{}"})[:20]))
