"""The ingest code shared by the Lambda and local mode: real downloads from a loopback HTTP
server, S3 through moto's emulator, and the offline fallback of local mode."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from headlines.config import load_config
from headlines.file_modules import load_lambda
from headlines.local.sources import InputError, resolve_corpus, resolve_news

ingest = load_lambda("ingest", "ingest")


@pytest.fixture()
def http_files(tmp_path):
    """Serves tmp_path/www over HTTP on loopback; yields (base URL, folder, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, requests
    server.shutdown()
    server.server_close()


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_stage_downloads_checks_and_skips_the_second_time(http_files, tmp_path):
    base, root, requests = http_files
    payload = b"anarchism originated as a term of abuse " * 1000
    (root / "text8.zip").write_bytes(zipped("text8", payload))
    store = ingest.LocalStore(str(tmp_path / "bucket"))
    digest = hashlib.sha256((root / "text8.zip").read_bytes()).hexdigest()
    seen = []

    first = ingest.stage(f"{base}/text8.zip", store, "raw/corpus/text8.zip", sha256=digest,
                         progress=lambda done, total: seen.append((done, total)))
    assert first["skipped"] is False and first["sha256"] == digest
    assert seen[-1] == (len((root / "text8.zip").read_bytes()),) * 2
    second = ingest.stage(f"{base}/text8.zip", store, "raw/corpus/text8.zip", sha256=digest)
    assert second["skipped"] is True and len(requests) == 1

    text = ingest.unpack_single_member(store.uri("raw/corpus/text8.zip"), store, "raw/corpus/text/text8")
    assert Path(text).read_bytes() == payload


def test_stage_rejects_a_wrong_checksum_or_size(http_files, tmp_path):
    base, root, _ = http_files
    (root / "news.zip").write_bytes(b"not what we expected")
    store = ingest.LocalStore(str(tmp_path / "bucket"))
    with pytest.raises(ingest.IngestError, match="SHA-256"):
        ingest.stage(f"{base}/news.zip", store, "raw/news.zip", sha256="0" * 64)
    with pytest.raises(ingest.IngestError, match="expected 5"):
        ingest.stage(f"{base}/news.zip", store, "raw/other.zip", expected_size=5)
    with pytest.raises(ingest.IngestError, match="cannot download"):
        ingest.stage(f"{base}/missing.zip", store, "raw/missing.zip")


@mock_aws
def test_lambda_handler_stages_into_s3_and_unpacks_single_file_zips(http_files, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    base, root, requests = http_files
    (root / "text8.zip").write_bytes(zipped("text8", b"one two three " * 500))
    news = io.BytesIO()
    with zipfile.ZipFile(news, "w") as archive:  # the real UCI zip holds two files
        archive.writestr("newsCorpora.csv", "1\tA headline\tu\tp\tb\ts\th\t1\n")
        archive.writestr("2pageSessions.csv", "x")
    (root / "NewsAggregatorDataset.zip").write_bytes(news.getvalue())
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    event = {"bucket": "data", "sources": [
        {"name": "news", "url": f"{base}/NewsAggregatorDataset.zip", "key": "raw/news/NewsAggregatorDataset.zip"},
        {"name": "corpus", "url": f"{base}/text8.zip", "key": "raw/corpus/text8.zip"},
    ]}

    result = ingest.handler(event, None)
    assert result["objects"] == {
        "news": "s3://data/raw/news/NewsAggregatorDataset.zip",
        "corpus": "s3://data/raw/corpus/text8.zip",
        "corpus_text": "s3://data/raw/corpus/text/text8",
    }
    assert result["checksums"] == {name: hashlib.sha256((root / f"{file}.zip").read_bytes()).hexdigest()
                                   for name, file in (("news", "NewsAggregatorDataset"), ("corpus", "text8"))}
    head = s3.head_object(Bucket="data", Key="raw/corpus/text8.zip")
    assert head["Metadata"]["sha256"] == hashlib.sha256((root / "text8.zip").read_bytes()).hexdigest()
    assert s3.get_object(Bucket="data", Key="raw/corpus/text/text8")["Body"].read() == b"one two three " * 500

    ingest.handler(event, None)  # idempotent: nothing downloaded again
    assert len(requests) == 2


def _news_zip(csv: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("newsCorpora.csv", csv)
        archive.writestr("2pageSessions.csv", "x")
    return buffer.getvalue()


def test_the_current_address_failing_the_legacy_one_is_used_and_its_zip_checked(http_files, tmp_path):
    base, root, requests = http_files
    (root / "legacy").mkdir()
    csv = b"1\tA headline\tu\tp\tb\ts\th\t1\n"
    (root / "legacy" / "NewsAggregatorDataset.zip").write_bytes(_news_zip(csv))
    store = ingest.LocalStore(str(tmp_path / "bucket"))
    result = ingest.stage_dataset([f"{base}/static/news.zip", f"{base}/legacy/NewsAggregatorDataset.zip"], store,
                                  "raw/news/news.zip", expected_members={"newsCorpora.csv": len(csv)})
    assert result["origin"].endswith("/legacy/NewsAggregatorDataset.zip") and result["text_uri"] is None


def test_a_download_that_is_not_the_dataset_is_refused_with_each_address_named(http_files, tmp_path):
    """UCI's moved pages answer 200 with HTML; a changed zip has another newsCorpora.csv."""
    base, root, _ = http_files
    (root / "page.zip").write_bytes(b"<!doctype html><title>UCI Machine Learning Repository</title>")
    (root / "other.zip").write_bytes(_news_zip(b"short"))
    store = ingest.LocalStore(str(tmp_path / "bucket"))
    with pytest.raises(ingest.IngestError) as failure:
        ingest.stage_dataset([f"{base}/page.zip", f"{base}/other.zip"], store, "raw/news/news.zip",
                             expected_members={"newsCorpora.csv": 102297000})
    message = str(failure.value)
    assert "not a zip file" in message and "newsCorpora.csv is 5 bytes, the dataset's is 102297000" in message
    assert "\n" not in message


def test_the_configured_datasets_carry_their_documented_sizes():
    data = load_config().data
    assert data.news_url.startswith("https://archive.ics.uci.edu/static/public/359/")
    assert data.news_fallback_urls == ["https://archive.ics.uci.edu/ml/machine-learning-databases/00359/NewsAggregatorDataset.zip"]
    assert data.news_members == {"newsCorpora.csv": 102_297_000} and data.corpus_members == {"text8": 100_000_000}


def test_local_mode_falls_back_to_the_shipped_sample_with_one_warning(tmp_path):
    config = load_config({"headlines.data.news_url": "http://127.0.0.1:9/NewsAggregatorDataset.zip",
                          "headlines.data.news_fallback_urls": "[]",
                          "headlines.data.corpus_url": "http://127.0.0.1:9/text8.zip"})
    console = Console(file=io.StringIO(), width=200)
    news = resolve_news(None, tmp_path, config, console)
    corpus = resolve_corpus(None, tmp_path, config, console)
    assert news.origin == corpus.origin == "sample"
    assert news.path.stat().st_size > 2_000_000 and corpus.path.stat().st_size > 7_000_000
    warnings = [line for line in console.file.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "sample shipped in the repo" in warnings[0]


def test_an_explicit_url_that_fails_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(InputError, match="cannot download"):
        resolve_news("http://127.0.0.1:9/mine.csv", tmp_path, load_config(), Console(file=io.StringIO()))


def test_a_403_from_head_object_is_one_line_naming_the_missing_list_permission():
    """Without s3:ListBucket, S3 answers HeadObject on a missing key with 403 (not 404)."""
    from botocore.stub import Stubber

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    store = ingest.S3Store("data-bucket", client=client)
    with stub, pytest.raises(ingest.IngestError) as error:
        store.stat("raw/news/NewsAggregatorDataset.zip")
    message = str(error.value)
    assert "\n" not in message and "s3:ListBucket" in message and "s3://data-bucket/raw/news/" in message
