"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds of news headlines: fetched with limits, parsed safely.

Shared by the scheduled feed Lambda (``feed_handler.py``) and ``headlines feed`` (local mode).

- Fetching: http(s) only (no ``file:`` or other schemes from a configured URL), one time limit
  for the whole download (a server that answers slowly, byte by byte, hits it too) and a size
  limit checked on ``Content-Length`` and while reading; a bigger body is never read in full.
- Parsing: defusedxml (docs/architecture.md, "Feeds are parsed with defusedxml"): a document
  that declares entities (billion laughs, an external entity naming a local file) is refused
  before anything is expanded or opened; the root element decides the format, anything else
  (an HTML page, another XML document) is "not a feed".
- Items: the title is the headline (markup and extra whitespace removed); items without a
  title or with one longer than the API's limit are skipped and counted; each item has a key
  (guid / id, else link, else a hash of the title), and a key appears once per feed.

Every failure is a :class:`FeedError` with a one-line message; callers report one line per
feed and carry on with the next.
"""
from __future__ import annotations

import hashlib
import html
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional, Tuple
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

USER_AGENT = "headlines-mlops-feed-reader/1 (+https://github.com/)"
ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_CHUNK = 64 * 1024
_TAGS = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")


class FeedError(Exception):
    """A feed that could not be read or parsed; ``str()`` is one line for the operator."""


@dataclass(frozen=True)
class FeedLimits:
    max_bytes: int = 5 * 1024 * 1024  # a large news feed is a few hundred kB
    timeout_seconds: float = 10.0  # the whole download, not each socket read
    max_items: int = 500  # per feed and run
    max_title_chars: int = 500  # the API's max_headline_chars


@dataclass(frozen=True)
class FeedItem:
    key: str  # what makes the item "the same" next time: guid / id, else link, else the title's hash
    title: str
    link: Optional[str]


@dataclass
class ParsedFeed:
    items: List[FeedItem]
    skipped: dict = field(default_factory=dict)  # reason -> count


def fetch(url: str, limits: FeedLimits, opener: Optional[urllib.request.OpenerDirector] = None) -> bytes:
    """The body of an http(s) URL, within the limits; FeedError otherwise."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FeedError(f"not an http(s) URL (scheme {scheme or 'none'!r})")
    deadline = time.monotonic() + limits.timeout_seconds
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                                                   "Accept": "application/rss+xml, application/atom+xml, "
                                                             "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"})
    try:
        # urllib follows redirects to http(s) and ftp only (never file:).
        response = (opener or urllib.request.build_opener()).open(request, timeout=limits.timeout_seconds)
        with response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise FeedError(f"too large: {int(declared):,} bytes declared (limit {limits.max_bytes:,})")
            return _read_within(response, limits, deadline)
    except FeedError:
        raise
    except urllib.error.HTTPError as exc:
        raise FeedError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise FeedError(f"no answer within {limits.timeout_seconds:g} s") from None
        raise FeedError(f"cannot connect: {reason}") from None
    except TimeoutError:
        raise FeedError(f"no answer within {limits.timeout_seconds:g} s") from None
    except (OSError, ValueError) as exc:  # reset connections, bad URLs, broken HTTP
        raise FeedError(f"cannot read: {type(exc).__name__}: {exc}".splitlines()[0]) from None


def _read_within(stream, limits: FeedLimits, deadline: float) -> bytes:
    chunks: List[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise FeedError(f"not read within {limits.timeout_seconds:g} s")
        # read1: what one receive brings (read(n) would wait for n bytes: a server that drips a
        # byte at a time would hold it far past the deadline)
        chunk = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limits.max_bytes:
            raise FeedError(f"too large: more than {limits.max_bytes:,} bytes (not read further)")
        chunks.append(chunk)


def read_file(path: str, limits: FeedLimits) -> bytes:
    """A feed saved as a file (local mode), within the size limit."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise FeedError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise FeedError(f"too large: more than {limits.max_bytes:,} bytes (not read further)")
    return data


def parse(data: bytes, limits: FeedLimits) -> ParsedFeed:
    """The items of an RSS 2.0, RSS 1.0 or Atom document."""
    root = _root(data)
    tag = root.tag
    if tag == "rss":
        channel = root.find("channel")
        entries = [] if channel is None else channel.findall("item")
        raw = ((_text(e.find("title")), _text(e.find("link")) or None, _text(e.find("guid"))) for e in entries)
    elif tag == f"{ATOM}feed":
        raw = ((_text(e.find(f"{ATOM}title")), _atom_link(e), _text(e.find(f"{ATOM}id"))) for e in root.findall(f"{ATOM}entry"))
    elif tag == f"{RDF}RDF":
        raw = ((_text(e.find(f"{RSS1}title")), _text(e.find(f"{RSS1}link")) or None, e.get(f"{RDF}about", ""))
               for e in root.findall(f"{RSS1}item"))
    else:
        name = tag.rsplit("}", 1)[-1]
        raise FeedError(f"not an RSS or Atom feed (the document is <{name[:40]}>)")
    return _items(raw, limits)


def _root(data: bytes) -> Element:
    if not data.strip():
        raise FeedError("empty body")
    try:
        # defusedxml's defaults: entity declarations and external references are refused
        # before any expansion or file access; a DTD without them is accepted.
        return fromstring(data)
    except DefusedXmlException as exc:
        raise FeedError(f"refused: the document declares entities or external references ({type(exc).__name__})") from None
    except ParseError as exc:
        raise FeedError(f"not well-formed XML ({exc})") from None
    except (LookupError, ValueError) as exc:  # unknown or unsupported encoding declarations
        raise FeedError(f"unreadable encoding ({exc})".splitlines()[0]) from None


def _text(element: Optional[Element]) -> str:
    if element is None:
        return ""
    text = "".join(element.itertext())  # Atom type="xhtml" titles are child elements
    if element.get("type") == "html" or "<" in text:
        text = _TAGS.sub(" ", html.unescape(text) if element.get("type") == "html" else text)
    return _SPACE.sub(" ", text).strip()


def _atom_link(entry: Element) -> Optional[str]:
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return next((link.get("href") for link in links if link.get("href")), None)


def _items(raw: Iterable[Tuple[str, Optional[str], str]], limits: FeedLimits) -> ParsedFeed:
    parsed = ParsedFeed(items=[])
    keys = set()

    def skip(reason: str) -> None:
        parsed.skipped[reason] = parsed.skipped.get(reason, 0) + 1

    for title, link, guid in raw:
        if len(parsed.items) >= limits.max_items:
            skip(f"over {limits.max_items} items")
            continue
        if not title:
            skip("no title")
            continue
        if len(title) > limits.max_title_chars:
            skip(f"title over {limits.max_title_chars} characters")
            continue
        key = guid or link or "sha256:" + hashlib.sha256(title.encode("utf-8")).hexdigest()
        if key in keys:
            skip("duplicate")
            continue
        keys.add(key)
        parsed.items.append(FeedItem(key=key[:1024], title=title, link=(link or None) and link[:2048]))
    return parsed


def batches(items: List[FeedItem], size: int) -> Iterator[List[FeedItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
