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
from typing import IO, Any, Dict, Tuple

_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")
METRICS = "metrics.json"


class IdentityError(Exception):
    """The artifact has no readable model version; the message is one line."""


def parse_s3_url(url: str) -> Tuple[str, str]:
    match = _S3_URL.match(url or "")
    if not match:
        raise IdentityError("not an s3:// URL: {!r}".format(url))
    return match.group(1), match.group(2)


def metrics_of(stream: IO[bytes], name: str = "model.tar.gz") -> Dict[str, Any]:
    """``metrics.json`` of the artifact read from ``stream`` (a gzip'd tar), with its ``model_version``."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.lstrip("./") == METRICS:
                    metrics = json.load(archive.extractfile(member))  # type: ignore[arg-type]  # a file member
                    version = metrics.get("model_version") if isinstance(metrics, dict) else None
                    if not isinstance(version, str) or not version:
                        raise IdentityError("{}: {} has no model_version".format(name, METRICS))
                    return metrics
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise IdentityError("{}: not a readable model artifact ({})".format(name, error)) from error
    raise IdentityError("{}: no {} in the artifact".format(name, METRICS))


def model_version_of(stream: IO[bytes], name: str = "model.tar.gz") -> str:
    """``model_version`` of the artifact read from ``stream`` (a gzip'd tar)."""
    return str(metrics_of(stream, name)["model_version"])


def details(metrics: Dict[str, Any], metrics_url: str) -> Dict[str, Any]:
    """What the model registry records beside the version: the test rows both models were
    scored on (count and checksum), the champion's version, and where metrics.json now is."""
    rows = metrics.get("test_rows") or {}
    champion = metrics.get("champion") or {}
    return {"model_version": metrics["model_version"], "metrics_url": metrics_url,
            "test_rows": str(rows.get("count", (metrics.get("data") or {}).get("test", "unknown"))),
            "test_rows_sha256": str(rows.get("sha256", "unknown")),
            "champion_version": str(champion.get("model_version", "none"))}


def handler(event, context, client=None):
    """Step Functions task: ``{"model_data_url": "s3://..."}`` -> the model version (a string);
    with ``"details": true``, also copies metrics.json beside the artifact (the model package's
    ModelMetrics point at it) and returns ``details()``."""
    url = event["model_data_url"]
    bucket, key = parse_s3_url(url)
    if client is None:
        import boto3

        client = boto3.client("s3")
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    metrics = metrics_of(body, url)
    version = str(metrics["model_version"])
    print(json.dumps({"message": "model identity", "model_data_url": url, "model_version": version}))
    if not event.get("details"):
        return version
    metrics_key = key.rsplit("/", 1)[0] + "/" + METRICS if "/" in key else METRICS
    client.put_object(Bucket=bucket, Key=metrics_key, Body=json.dumps(metrics).encode("utf-8"),
                      ContentType="application/json")
    return details(metrics, "s3://{}/{}".format(bucket, metrics_key))
