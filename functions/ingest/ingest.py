"""Ingest: stages the public datasets where training reads them (the data bucket, or a folder).

The Lambda handler and the local pipeline run this same code; only the store differs
(``S3Store`` in AWS, ``LocalStore`` for the local work directory). Downloads are streamed in
chunks (never buffered whole in memory), checked (expected size, SHA-256 when configured, zip
integrity), and idempotent: an object that is already there with the expected size/checksum
is not fetched again. A zip holding a single file (text8.zip) is also unpacked, because the
BlazingText job reads plain text.

Standard library and boto3 only: that is what the Lambda runtime provides.
"""
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

CHUNK = 1 << 20
USER_AGENT = "headlines-mlops-ingest/1.0"
# Sizes of the public files, to check a download when no SHA-256 is configured.
KNOWN_SIZES = {"http://mattmahoney.net/dc/text8.zip": 31344016}
Progress = Callable[[int, Optional[int]], None]


class IngestError(Exception):
    """A source that cannot be staged; the message is one line for the user."""


class _Hashing:
    """Wraps a readable stream, hashing and counting what passes through."""

    def __init__(self, stream: IO[bytes], progress: Optional[Progress] = None, total: Optional[int] = None):
        self.stream, self.progress, self.total = stream, progress, total
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.size += len(data)
        if self.progress:
            self.progress(self.size, self.total)
        return data


class LocalStore:
    """Objects as files under a root folder (local mode's stand-in for the data bucket)."""

    def __init__(self, root: str):
        self.root = root

    def uri(self, key: str) -> str:
        return os.path.join(self.root, key)

    def stat(self, key: str) -> Optional[Tuple[int, Optional[str]]]:
        path = self.uri(key)
        if not os.path.isfile(path):
            return None
        sidecar = path + ".sha256"
        digest = open(sidecar).read().strip() if os.path.isfile(sidecar) else None
        return os.path.getsize(path), digest

    def put(self, key: str, stream: IO[bytes]) -> None:
        path = self.uri(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = path + ".partial"
        with open(partial, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        os.replace(partial, path)  # a crash mid-download never leaves a complete-looking file

    def record_sha256(self, key: str, digest: str) -> None:
        with open(self.uri(key) + ".sha256", "w") as handle:
            handle.write(digest)


class S3Store:
    """Objects in the data bucket; the SHA-256 is kept as object metadata."""

    def __init__(self, bucket: str, client=None):
        import boto3

        self.bucket = bucket
        self.client = client or boto3.client("s3")

    def uri(self, key: str) -> str:
        return "s3://{}/{}".format(self.bucket, key)

    def stat(self, key: str) -> Optional[Tuple[int, Optional[str]]]:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code in ("403", "AccessDenied", "Forbidden"):
                # S3 answers 403, not 404, for a missing key unless the caller may s3:ListBucket
                # the bucket (a HeadObject carries no s3:prefix for a condition to match).
                raise IngestError("s3://{}/{}: HeadObject denied (403): a missing object reads as 403 without "
                                  "s3:ListBucket on the bucket; grant it to this function".format(self.bucket, key)) from error
            raise
        return head["ContentLength"], head.get("Metadata", {}).get("sha256")

    def put(self, key: str, stream: IO[bytes]) -> None:
        # upload_fileobj streams in multipart chunks; nothing is held whole in memory.
        self.client.upload_fileobj(stream, self.bucket, key)

    def record_sha256(self, key: str, digest: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
            Metadata={"sha256": digest}, MetadataDirective="REPLACE",
        )


def _open_source(source: str, timeout: float) -> Tuple[IO[bytes], Optional[int]]:
    """A byte stream and its length (when known) for an http(s)/s3 URI or a local path."""
    if source.startswith("s3://"):
        import boto3

        bucket, _, key = source[len("s3://"):].partition("/")
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        return body["Body"], body.get("ContentLength")
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise IngestError("cannot download {}: {}".format(source, reason)) from error
        length = response.headers.get("Content-Length")
        return response, int(length) if length and length.isdigit() else None
    if not os.path.isfile(source):
        raise IngestError("{}: no such file".format(source))
    return open(source, "rb"), os.path.getsize(source)


def _matches(found: Optional[Tuple[int, Optional[str]]], size: Optional[int], sha256: Optional[str]) -> bool:
    if found is None:
        return False
    found_size, found_sha = found
    if sha256:
        return found_sha == sha256
    return size is None or found_size == size


def stage(source: str, store, key: str, sha256: Optional[str] = None, expected_size: Optional[int] = None,
          progress: Optional[Progress] = None, timeout: float = 60.0, force: bool = False) -> Dict[str, object]:
    """Copies ``source`` to ``key`` in ``store`` unless it is already there (or ``force``); checks it."""
    expected_size = expected_size or KNOWN_SIZES.get(source)
    if not force and _matches(store.stat(key), expected_size, sha256):
        return {"uri": store.uri(key), "skipped": True}
    stream, length = _open_source(source, timeout)
    hashing = _Hashing(stream, progress, length or expected_size)
    try:
        store.put(key, hashing)
    except (OSError, urllib.error.URLError) as error:
        raise IngestError("download of {} broke off: {}".format(source, error)) from error
    finally:
        stream.close()
    digest = hashing.sha256.hexdigest()
    if expected_size is not None and hashing.size != expected_size:
        raise IngestError("{}: got {} bytes, expected {}".format(source, hashing.size, expected_size))
    if sha256 and digest != sha256:
        raise IngestError("{}: SHA-256 {} does not match the configured {}".format(source, digest, sha256))
    store.record_sha256(key, digest)
    return {"uri": store.uri(key), "skipped": False, "size": hashing.size, "sha256": digest}


class _LocalCopy:
    """The object at ``key`` as a local file (zip needs random access): the file itself in a
    LocalStore, else a temporary download (31 MB for text8.zip)."""

    def __init__(self, store, key: str):
        self.store, self.key = store, key
        self._scratch: Optional[tempfile.TemporaryDirectory] = None

    def __enter__(self) -> str:
        if isinstance(self.store, LocalStore):
            return self.store.uri(self.key)
        self._scratch = tempfile.TemporaryDirectory()
        local = os.path.join(self._scratch.name, "archive")
        self.store.client.download_file(self.store.bucket, self.key, local)
        return local

    def __exit__(self, *exc) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()


def check_members(archive: str, key: str, expected: Dict[str, int]) -> None:
    """IngestError unless the zip at ``archive`` holds each expected member with its size."""
    if not expected:
        return
    if not zipfile.is_zipfile(archive):
        raise IngestError("{}: not a zip file (expected {})".format(key, ", ".join(sorted(expected))))
    with zipfile.ZipFile(archive) as opened:
        sizes = {os.path.basename(info.filename): info.file_size for info in opened.infolist() if not info.is_dir()}
    for name, size in sorted(expected.items()):
        if name not in sizes:
            raise IngestError("{}: no {} in the zip (it holds {})".format(key, name, ", ".join(sorted(sizes)) or "nothing"))
        if sizes[name] != size:
            raise IngestError("{}: {} is {} bytes, the dataset's is {}".format(key, name, sizes[name], size))


def unpack_single_member(archive: str, store, target_key: str) -> Optional[str]:
    """If ``archive`` (a local file) is a zip holding exactly one file, stores that file at
    ``target_key``. Returns its URI, or None when it is not a single-file zip."""
    if not zipfile.is_zipfile(archive):
        return None
    with zipfile.ZipFile(archive) as opened:
        members = [info for info in opened.infolist() if not info.is_dir()]
        if len(members) != 1:
            return None
        if _matches(store.stat(target_key), members[0].file_size, None):
            return store.uri(target_key)
        try:
            with opened.open(members[0]) as member:
                store.put(target_key, member)
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as error:  # includes CRC errors
            raise IngestError("{}: damaged zip ({})".format(archive, error)) from error
    return store.uri(target_key)


def stage_dataset(origins: List[str], store, key: str, sha256: Optional[str] = None,
                  expected_size: Optional[int] = None, expected_members: Optional[Dict[str, int]] = None,
                  progress: Optional[Progress] = None, unpack: bool = True) -> Dict[str, object]:
    """Stages the first of ``origins`` that gives the expected dataset (the current address
    first, older ones as fallbacks), and unpacks a single-file zip beside it (``unpack``);
    IngestError naming each failure when none does."""
    failures: List[str] = []
    for attempt, origin in enumerate(origins):
        try:
            # After a failed check, what is stored is not the dataset: fetch again.
            result = stage(origin, store, key, sha256=sha256, expected_size=expected_size,
                           progress=progress, force=attempt > 0)
            with _LocalCopy(store, key) as archive:
                check_members(archive, key, expected_members or {})
                text_key = "{}/text/{}".format(os.path.dirname(key), os.path.splitext(os.path.basename(key))[0])
                unpacked = unpack_single_member(archive, store, text_key) if unpack else None
            return dict(result, origin=origin, text_uri=unpacked)
        except IngestError as error:
            failures.append(str(error))
    raise IngestError("; ".join(failures) if len(failures) > 1 else failures[0])


def ingest_sources(sources: List[Dict[str, Any]], store) -> Dict[str, str]:
    """Stages each source; returns name -> URI (and ``<name>_text`` for an unpacked zip)."""
    objects: Dict[str, str] = {}
    for source in sources:
        name, key = str(source["name"]), str(source["key"])
        if source.get("source_s3_uri"):
            origins = [str(source["source_s3_uri"])]
        else:
            origins = [str(url) for url in (source.get("urls") or [source.get("url")]) if url]
        # {member name: size} the zip must hold (cdk.json data.*_members): a moved or changed
        # download (an HTML page, another version) fails here, not in the training job.
        members = {str(k): int(str(v)) for k, v in dict(source.get("expected_members") or {}).items()}
        if not origins:
            raise IngestError("source '{}' has neither url nor source_s3_uri".format(name))
        sha256, expected_size = source.get("sha256"), source.get("expected_size")
        result = stage_dataset(origins, store, key, sha256=str(sha256) if sha256 else None,
                               expected_size=int(str(expected_size)) if expected_size is not None else None,
                               expected_members=members)
        objects[name] = str(result["uri"])
        if result.get("text_uri"):
            objects[name + "_text"] = str(result["text_uri"])
    return objects


def handler(event, context):
    """Step Functions task: ``{"bucket": ..., "sources": [...]}`` -> ``{"objects": {...}, "checksums": {...}}``."""
    bucket = event.get("bucket") or os.environ["DATA_BUCKET"]
    store = S3Store(bucket)
    objects = ingest_sources(event["sources"], store)
    # The SHA-256 each object carries (recorded when it was staged): the model registry's lineage.
    checksums = {str(source["name"]): str((store.stat(str(source["key"])) or (0, None))[1] or "unknown")
                 for source in event["sources"]}
    print(json.dumps({"message": "ingested", "objects": objects, "checksums": checksums}))
    return {"objects": objects, "checksums": checksums}
