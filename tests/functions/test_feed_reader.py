"""The feed reader (functions/api/feed_reader.py, feed_run.py, feed_seen.py) against real
feeds and attacks, served by a loopback HTTP server: each bad feed is one line, no file is
read, the other feeds are unaffected, each item is recorded once."""
from __future__ import annotations

import http.server
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from headlines.file_modules import load_lambda
from headlines.project import ROOT

feed_run = load_lambda("api", "feed_run")
import feed_reader  # noqa: E402  (functions/api is on sys.path once load_lambda ran)
import feed_seen  # noqa: E402

SAMPLE_RSS = ROOT / "headlines" / "sample_data" / "sample-feed.xml"
SAMPLE_ATOM = ROOT / "headlines" / "sample_data" / "sample-feed.atom"
LIMITS = feed_reader.FeedLimits(max_bytes=1024 * 1024, timeout_seconds=3.0, max_items=100, max_title_chars=500)


def rss(*items: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}<rss version="2.0"><channel><title>t</title>'
            + "".join(items) + "</channel></rss>").encode("utf-8")


def item(title: str, guid: str = "", link: str = "") -> str:
    return f"<item><title>{title}</title><guid>{guid}</guid><link>{link}</link></item>"


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
                  + b']><rss version="2.0"><channel><item><title>&lol9;</title></item></channel></rss>')


@pytest.fixture()
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


@pytest.fixture()
def opened(secret):
    """Paths opened through Python's audit hook 'open' while the test runs (no file read)."""
    seen: list = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open" and args and str(args[0]).endswith("secret.txt"):
            seen.append(args[0])

    sys.addaudithook(hook)
    yield seen
    active[0] = False


@pytest.fixture()
def feeds_server(secret):
    """A loopback server: path -> body, plus a never-answering and a 100 MB path."""
    xxe = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
           f'<rss version="2.0"><channel><item><title>&xxe;</title></item></channel></rss>').encode()
    bodies = {
        "/rss": SAMPLE_RSS.read_bytes(),
        "/atom": SAMPLE_ATOM.read_bytes(),
        "/not-xml": b'{"this": "is json"}',
        "/html": b"<!DOCTYPE html><html><head><title>News</title></head><body><p>Hello<br></body></html>",
        "/xhtml": b"<html><head><title>News</title></head><body><p>Hello</p></body></html>",
        "/laughs": BILLION_LAUGHS,
        "/xxe": xxe,
        "/wrong-encoding": rss(item("Caf\u00e9 chain expands", "e1")).replace(b"Caf\xc3\xa9", b"Caf\xe9"),
        "/unknown-encoding": rss(item("x", "u1")).replace(b"UTF-8", b"klingon-8"),
        "/no-title": rss(item("", "n1", "https://example.com/1"), "<item><guid>n2</guid></item>", item("A real headline", "n3")),
        "/duplicates": rss(item("Same story", "d1"), item("Same story again", "d1"), item("Other story", "d2")),
        "/long-title": rss(item("x" * 10_000, "l1"), item("A short headline", "l2")),
    }
    hits: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path == "/never":
                time.sleep(12)
                return
            if self.path == "/drip":  # a valid start, then a byte every 0.2 s, for ever
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                try:
                    self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
                    for _ in range(200):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
                return
            if self.path in ("/huge", "/huge-declared"):
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                if self.path == "/huge-declared":
                    self.send_header("Content-Length", str(100 * 1024 * 1024))
                self.end_headers()
                chunk = b"<rss>" + b" " * (1024 * 1024)
                try:
                    for _ in range(100):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


class Recorded:
    """A classifier and a recorder standing in for the endpoint and the results sink."""

    def __init__(self):
        self.records = []

    def classify(self, headlines):
        return [{"category": "business", "label": "b", "confidence": 0.9, "scores": {}} for _ in headlines]

    def record(self, feed, items, predictions):
        self.records.extend((feed, item.key, item.title, item.link, p["category"]) for item, p in zip(items, predictions))


def run(urls, tmp_path, recorded=None, seen=None):
    recorded = recorded or Recorded()
    outcomes = feed_run.read_feeds(urls, load=feed_reader.fetch, limits=LIMITS,
                                   seen=seen or feed_seen.FileSeen(tmp_path / "seen.json"),
                                   classify=recorded.classify, record=recorded.record, batch_size=5)
    return outcomes, recorded


ATTACKS = {
    "/not-xml": "not well-formed XML",
    "/html": "not well-formed XML",
    "/xhtml": "not an RSS or Atom feed (the document is <html>)",
    "/laughs": "refused: the document declares entities",
    "/xxe": "refused: the document declares entities",
    "/wrong-encoding": "not well-formed XML",
    "/unknown-encoding": "encoding",
    "/huge": "too large: more than 1,048,576 bytes",
    "/huge-declared": "too large: 104,857,600 bytes declared",
    "/never": "within 3 s",
    "/drip": "not read within 3 s",
    "/missing": "HTTP 404",
}


def test_every_attack_is_one_line_and_the_other_feeds_are_unaffected(feeds_server, tmp_path, opened, secret):
    base, _ = feeds_server
    urls = [base + "/rss", *(base + path for path in ATTACKS), base + "/atom"]
    started = time.monotonic()
    outcomes, recorded = run(urls, tmp_path)
    assert time.monotonic() - started < 30  # a hung feed does not hold up the run (not a timing assert on speed)
    by_path = {outcome.feed[len(base):]: outcome for outcome in outcomes}
    for path, expected in ATTACKS.items():
        line = by_path[path].line()
        assert "\n" not in line and expected in line, (path, line)
        assert line.startswith(f"feed {base}{path}: error: ")
    assert by_path["/rss"].error is None and by_path["/rss"].new == 16
    assert by_path["/atom"].error is None and by_path["/atom"].new == 4
    assert len(recorded.records) == 20
    assert opened == []  # the external entity's file was never opened
    assert not any("TOP-SECRET" in outcome.line() for outcome in outcomes)


def test_items_without_title_duplicates_and_long_titles_are_skipped_and_counted(feeds_server, tmp_path):
    base, _ = feeds_server
    outcomes, recorded = run([base + "/no-title", base + "/duplicates", base + "/long-title"], tmp_path)
    no_title, duplicates, long_title = outcomes
    assert (no_title.new, no_title.skipped) == (1, {"no title": 2})
    assert (duplicates.new, duplicates.skipped) == (2, {"duplicate": 1})
    assert (long_title.new, long_title.skipped) == (1, {"title over 500 characters": 1})
    assert "1 new, 0 seen before, 2 skipped (no title)" in no_title.line()
    assert [r[2] for r in recorded.records] == ["A real headline", "Same story", "Other story", "A short headline"]


def test_each_item_is_recorded_once_across_runs(feeds_server, tmp_path):
    base, _ = feeds_server
    first, recorded = run([base + "/rss"], tmp_path)
    second, again = run([base + "/rss"], tmp_path)
    assert (first[0].new, second[0].new, second[0].seen) == (16, 0, 16)
    assert len(recorded.records) == 16 and again.records == []


def test_titles_links_and_keys_of_rss_and_atom():
    atom = feed_reader.parse(SAMPLE_ATOM.read_bytes(), LIMITS).items
    assert [i.title for i in atom] == [
        "Stocks close higher as tech earnings lift the market",
        "Streaming service raises prices & adds an ad tier",
        "Vaccine trial shows strong results in older adults",
        "Chipmaker unveils its fastest processor for laptops",
    ]
    assert atom[1].link == "https://example.com/atom/entertainment/streaming-prices"
    assert atom[0].key == "urn:uuid:sample-atom-0001"
    rdf = (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
           b'<item rdf:about="https://example.com/a"><title>Markets rally</title><link>https://example.com/a</link></item></rdf:RDF>')
    assert [(i.key, i.title) for i in feed_reader.parse(rdf, LIMITS).items] == [("https://example.com/a", "Markets rally")]
    keyless = feed_reader.parse(rss(item("No guid or link")), LIMITS).items[0]
    assert keyless.key.startswith("sha256:")


def test_a_failed_classification_releases_the_items_for_the_next_run(feeds_server, tmp_path):
    base, _ = feeds_server

    class Failing(Recorded):
        def classify(self, headlines):
            if len(self.records) >= 5:
                raise RuntimeError("the model endpoint is unavailable\nTraceback ...")
            return super().classify(headlines)

    outcomes, recorded = run([base + "/rss"], tmp_path, Failing())
    assert outcomes[0].line().endswith("5 new items recorded, 11 not (tried again next run): the model endpoint is unavailable")
    retry, again = run([base + "/rss"], tmp_path)
    assert (retry[0].new, retry[0].seen) == (11, 5)
    assert {r[1] for r in recorded.records} | {r[1] for r in again.records} == {f"sample-{n:04d}" for n in range(1, 17)}


def test_only_http_urls_are_fetched(secret, opened):
    for url in (f"file://{secret}", "ftp://example.com/feed", str(secret)):
        with pytest.raises(feed_reader.FeedError, match="not an http"):
            feed_reader.fetch(url, LIMITS)
    assert opened == []


@mock_aws
def test_dynamodb_claims_each_item_once():
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="seen", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    store = feed_seen.DynamoSeen("seen", client)
    assert store.claim("f", ["a", "b"]) == ["a", "b"]
    assert store.claim("f", ["a", "b", "c"]) == ["c"]
    assert store.claim("g", ["a"]) == ["a"]  # per feed
    store.release("f", ["c"])
    assert store.claim("f", ["c"]) == ["c"]


def test_the_state_file_is_replaced_whole(tmp_path):
    store = feed_seen.FileSeen(tmp_path / "state" / "seen.json")
    assert store.claim("f", ["a"]) == ["a"]
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["seen.json"]
    (tmp_path / "state" / "seen.json").write_text("{broken")
    assert store.claim("f", ["a"]) == ["a"]  # unreadable state: recorded again, never lost


def test_sample_feeds_are_in_the_package():
    assert Path(SAMPLE_RSS).is_file() and len(feed_reader.parse(SAMPLE_RSS.read_bytes(), LIMITS).items) == 16


def test_a_doctype_without_entities_is_read_and_escaped_markup_is_dropped():
    old = (b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
           b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
           b'<item><title>Caf&#233; prices &amp; &lt;b&gt;tips&lt;/b&gt;</title><link>http://e.com/1</link></item></channel></rss>')
    (only,) = feed_reader.parse(old, LIMITS).items
    assert (only.title, only.key) == ("Café prices & tips", "http://e.com/1")
