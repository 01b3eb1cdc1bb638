"""Model identity: reads ``model_version`` from the ``metrics.json`` inside a ``model.tar.gz`` in S3.

The pipeline's publish step runs this so that the approval record, the serving pointer, the
``ModelVersion`` stack output and ``/v1/health`` carry the same version as the artifact itself
(and ``/v1/classify``, which reads it from the artifact): the content hash of the model's
parameters that ``training/train.py`` writes. Step Functions cannot look inside a tar, hence
this function. The tar is streamed (``r|gz``) and reading stops at ``metrics.json``.

Standard library and boto3 only: that is what the Lambda runtime provides.
"""
import json
import re
import tarfile
from typing import IO, Tuple

_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")
METRICS = "metrics.json"


class IdentityError(Exception):
    """The artifact has no readable model version; the message is one line."""


def parse_s3_url(url: str) -> Tuple[str, str]:
    match = _S3_URL.match(url or "")
    if not match:
        raise IdentityError("not an s3:// URL: {!r}".format(url))
    return match.group(1), match.group(2)


def model_version_of(stream: IO[bytes], name: str = "model.tar.gz") -> str:
    """``model_version`` of the artifact read from ``stream`` (a gzip'd tar)."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.lstrip("./") == METRICS:
                    metrics = json.load(archive.extractfile(member))  # type: ignore[arg-type]  # a file member
                    version = metrics.get("model_version") if isinstance(metrics, dict) else None
                    if not isinstance(version, str) or not version:
                        raise IdentityError("{}: {} has no model_version".format(name, METRICS))
                    return version
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise IdentityError("{}: not a readable model artifact ({})".format(name, error)) from error
    raise IdentityError("{}: no {} in the artifact".format(name, METRICS))


def handler(event, context, client=None):
    """Step Functions task: ``{"model_data_url": "s3://..."}`` -> the model version (a string)."""
    url = event["model_data_url"]
    bucket, key = parse_s3_url(url)
    if client is None:
        import boto3

        client = boto3.client("s3")
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    version = model_version_of(body, url)
    print(json.dumps({"message": "model identity", "model_data_url": url, "model_version": version}))
    return version
