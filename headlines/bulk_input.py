"""Reading a file of headlines for bulk scoring (``headlines classify --input``), as a stream.

Formats (detected from the name and the first line; ``--format`` overrides):

- ``text``: one headline per line;
- ``csv``: comma-separated with a header row; the headline column is ``--column``, else the first
  of ``headline``, ``title``, ``text``;
- ``jsonl``: JSON Lines, one object per line; the field is ``--field`` (default ``headline``); a
  line may also be a bare JSON string;
- ``newscorpora``: the UCI News Aggregator's ``newsCorpora.csv`` (tab-separated, no header, no
  quoting, 8 columns, the title second);
- ``uci-csv``: the other distribution of the same data (``uci-news-aggregator.csv``: comma-separated,
  quoted, header ``ID,TITLE,...``): ``csv`` with the column ``TITLE``.

A ``.gz`` file is read through gzip. The file is read line by line, never whole: memory stays
flat whatever its size. A row that cannot be scored (empty, not UTF-8, binary, longer than the
model's limit, a line over ``MAX_LINE_BYTES``, malformed CSV/JSON) comes out as a ``BadRow`` with
its line number, and the rows after it go on; a file that cannot be read at all (missing, empty,
binary, a zip, no known format, no such column) is an ``InputError``: one line naming the file
and, where it applies, the line.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from headlines.errors import UserError

FORMATS = ("text", "csv", "jsonl", "newscorpora", "uci-csv")
#: A line longer than this is a bad row, skipped without being read into memory whole.
MAX_LINE_BYTES = 64 * 1024
CSV_COLUMNS = ("headline", "title", "text")
NEWS_COLUMNS = 8  # ID TITLE URL PUBLISHER CATEGORY STORY HOSTNAME TIMESTAMP
_SNIFF_BYTES = 8192
_UTF8_BOM = b"\xef\xbb\xbf"


class InputError(UserError):
    """The input file cannot be scored at all; one line naming the file (and line)."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line number in the file (a CSV record's first line)
    text: str


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


Item = Union[Row, BadRow]


@dataclass(frozen=True)
class Options:
    format: Optional[str] = None  # None: detect
    column: Optional[str] = None  # csv
    field: str = "headline"  # jsonl
    max_chars: Optional[int] = None  # the model's limit (cdk.json headlines.api.max_headline_chars)


class _Lines:
    """Numbered lines of a binary stream, decoded one by one."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.number = 0

    def __iter__(self) -> Iterator[Tuple[int, Union[str, BadRow]]]:
        while True:
            raw = self.stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of it, a block at a time
                    raw = self.stream.readline(MAX_LINE_BYTES)
                yield self.number, BadRow(self.number, f"longer than {MAX_LINE_BYTES} bytes: not a headline")
                continue
            if self.number == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM):]
            raw = raw.rstrip(b"\r\n")
            if b"\0" in raw:
                yield self.number, BadRow(self.number, "binary data (a NUL byte), not text")
                continue
            try:
                yield self.number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield self.number, BadRow(self.number, f"not UTF-8 text (byte {error.start + 1} of the line): "
                                                       "save the file as UTF-8")


def _check_text(line: int, text: object, max_chars: Optional[int]) -> Item:
    if not isinstance(text, str):
        return BadRow(line, f"the headline is a {type(text).__name__}, not a string")
    if not text.strip():
        return BadRow(line, "empty headline")
    if max_chars is not None and len(text) > max_chars:
        return BadRow(line, f"longer than {max_chars} characters (the model's limit)")
    return Row(line, text)


class HeadlineReader:
    """``with HeadlineReader(path, options) as reader: for item in reader: ...``"""

    def __init__(self, path: Union[str, Path], options: Options = Options()):
        self.path = Path(path)
        self.options = options
        self._raw: Optional[BinaryIO] = None
        self._stream: Optional[BinaryIO] = None
        self.size = 0
        self.format = ""

    # --- opening and detecting ----------------------------------------------------------------
    def __enter__(self) -> "HeadlineReader":
        self._raw = open(self.path, "rb")  # closed in __exit__, or here when the file is refused
        try:
            return self._open()
        except BaseException:
            self.__exit__()
            raise

    def _open(self) -> "HeadlineReader":
        assert self._raw is not None
        self.size = self.path.stat().st_size
        head = self._raw.read(4)
        self._raw.seek(0)
        if head.startswith(b"PK\x03\x04"):
            raise InputError(f"{self.path}: a zip archive: unzip it and pass the file inside")
        if head.startswith(b"\x1f\x8b"):
            self._stream = gzip.GzipFile(fileobj=self._raw)  # type: ignore[assignment]
        else:
            self._stream = self._raw
        try:
            sniff = self._stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if hasattr(self._stream, "peek") else b""  # type: ignore[union-attr]
        except (OSError, EOFError) as error:
            raise InputError(f"{self.path}: not a readable gzip file: {error}") from None
        if not sniff.strip():
            raise InputError(f"{self.path}: empty: no headline to score")
        if b"\0" in sniff:
            line = sniff[:sniff.index(b"\0")].count(b"\n") + 1
            raise InputError(f"{self.path}:{line}: binary data (a NUL byte), not a text file of headlines")
        self.format = self.options.format or self._detect(sniff)
        if self.format not in FORMATS:
            raise InputError(f"unknown --format {self.format}: use one of {', '.join(FORMATS)}")
        if self.format in ("csv", "uci-csv"):  # a missing column is known from the header: say so now
            first = sniff.split(b"\n", 1)[0].removeprefix(_UTF8_BOM).decode("utf-8", "replace")
            with contextlib.suppress(csv.Error, StopIteration):
                self._column(next(csv.reader([first])))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None and self._stream is not self._raw:
            self._stream.close()
        if self._raw is not None:
            self._raw.close()

    def position(self) -> int:
        """Bytes of the file read so far (of the compressed file for .gz)."""
        return self._raw.tell() if self._raw is not None else 0

    def _detect(self, sniff: bytes) -> str:
        first = sniff.splitlines()[0] if sniff.splitlines() else b""
        first = first[len(_UTF8_BOM):] if first.startswith(_UTF8_BOM) else first
        name = self.path.name.lower().removesuffix(".gz")
        fields = first.split(b"\t")
        if first.startswith(b"ID,TITLE,"):
            return "uci-csv"
        if len(fields) == NEWS_COLUMNS and fields[0].strip().isdigit() and fields[4].strip() in (b"b", b"t", b"e", b"m"):
            return "newscorpora"
        if name.endswith((".jsonl", ".ndjson")) or first.lstrip().startswith(b"{"):
            return "jsonl"
        if name.endswith(".csv") or self.options.column:
            return "csv"
        return "text"

    # --- reading ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Item]:
        assert self._stream is not None, "use HeadlineReader in a with block"
        lines = _Lines(self._stream)
        if self.format in ("csv", "uci-csv"):
            yield from self._csv(lines)
            return
        parse = {"text": self._text, "jsonl": self._jsonl, "newscorpora": self._news}[self.format]
        for number, line in lines:
            if isinstance(line, BadRow):
                yield line
            elif line.strip() or self.format == "text":  # blank lines between JSON/TSV records are not rows
                yield parse(number, line)

    def _text(self, number: int, line: str) -> Item:
        return _check_text(number, line, self.options.max_chars)

    def _jsonl(self, number: int, line: str) -> Item:
        try:
            value = json.loads(line)
        except ValueError as error:
            return BadRow(number, f"not JSON: {error}")
        if isinstance(value, dict):
            if self.options.field not in value:
                return BadRow(number, f"no \"{self.options.field}\" field (--field names it)")
            value = value[self.options.field]
        return _check_text(number, value, self.options.max_chars)

    def _news(self, number: int, line: str) -> Item:
        fields = line.split("\t")
        if len(fields) != NEWS_COLUMNS:
            return BadRow(number, f"{len(fields)} tab-separated fields, newsCorpora.csv has {NEWS_COLUMNS}")
        return _check_text(number, fields[1], self.options.max_chars)

    def _csv(self, lines: _Lines) -> Iterator[Item]:
        pending: List[BadRow] = []

        def good_lines() -> Iterator[str]:
            for _, line in lines:
                if isinstance(line, BadRow):
                    pending.append(line)
                else:
                    yield line + "\n"

        reader = csv.reader(good_lines())
        try:
            header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as error:
            raise InputError(f"{self.path}:1: not CSV: {error}") from None
        yield from pending
        pending.clear()
        column = self._column(header)
        while True:
            start = lines.number + 1
            try:
                record = next(reader)
            except StopIteration:
                yield from pending
                return
            except csv.Error as error:
                yield from pending
                pending.clear()
                yield BadRow(start, f"not CSV: {error}")
                continue
            yield from pending
            pending.clear()
            if not any(field.strip() for field in record):
                continue  # a blank line is not a record
            if len(record) != len(header):
                yield BadRow(start, f"{len(record)} fields, the header has {len(header)}")
                continue
            yield _check_text(start, record[column], self.options.max_chars)

    def _column(self, header: List[str]) -> int:
        wanted = [self.options.column] if self.options.column else (["TITLE"] if self.format == "uci-csv" else list(CSV_COLUMNS))
        by_name = {name.strip().lower(): index for index, name in enumerate(header)}
        for name in wanted:
            if name.lower() in by_name:
                return by_name[name.lower()]
        shown = ", ".join(header[:12]) or "none"
        raise InputError(f"{self.path}:1: no column {' or '.join(wanted)} in the header (columns: {shown}): "
                         "name it with --column")

