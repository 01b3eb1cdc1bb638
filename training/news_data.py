"""Loading and splitting the UCI News Aggregator dataset (runs on Python 3.8).

Two distributions of the dataset circulate and both are accepted:
- UCI's ``newsCorpora.csv`` (often inside ``NewsAggregatorDataset.zip``): tab-separated, no
  header, no quoting (titles may contain ``"``), 8 columns
  ``ID TITLE URL PUBLISHER CATEGORY STORY HOSTNAME TIMESTAMP``;
- the comma-separated ``uci-news-aggregator.csv``: the same columns, quoted, with a header.

Headlines of one STORY are near-duplicates, so the default split keeps each story on one side
(train, validation or test). A random row split is available, named for what it is: leaky.
"""
import csv
import io
import logging
import os
import random
import zipfile
from collections import Counter
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

LOG = logging.getLogger(__name__)

# Dataset label codes in the model's output order, with the names the API uses.
LABELS = (("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health"))
LABEL_CODES = tuple(code for code, _ in LABELS)
COLUMNS = ("ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP")
_CSV_HEADER_PREFIX = "ID,TITLE,"
_ZIP_MEMBER = "newsCorpora.csv"
# Fields may be long (URLs); the csv module's default limit is 128 KiB.
csv.field_size_limit(1 << 24)


class DataError(Exception):
    """Input data that cannot be used; the message is meant for the user, on one line."""


class Headline(NamedTuple):
    title: str
    label: str
    story: str


class LoadReport(NamedTuple):
    rows: List[Headline]
    skipped: int
    source_format: str


def _open_text(path: str) -> Tuple[io.TextIOBase, str]:
    """A text stream over a CSV file, or over newsCorpora.csv inside a zip."""
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = [name for name in archive.namelist() if name.endswith(".csv")]
        member = _ZIP_MEMBER if _ZIP_MEMBER in names else (names[0] if len(names) == 1 else None)
        if member is None:
            raise DataError("{}: zip holds no {} (found: {})".format(path, _ZIP_MEMBER, ", ".join(names) or "nothing"))
        return io.TextIOWrapper(archive.open(member), encoding="utf-8", errors="replace", newline=""), member
    return open(path, encoding="utf-8", errors="replace", newline=""), os.path.basename(path)


def _rows(stream: io.TextIOBase) -> Tuple[str, Iterator[List[str]]]:
    first = stream.readline()
    if first.startswith(_CSV_HEADER_PREFIX):
        return "csv-with-header", csv.reader(stream)
    if first.count("\t") == len(COLUMNS) - 1:
        def tab_rows() -> Iterator[List[str]]:
            for line in [first] + [line for line in stream]:
                yield line.rstrip("\r\n").split("\t")
        return "uci-tab-separated", tab_rows()
    raise DataError(
        "not a News Aggregator file: expected UCI's tab-separated newsCorpora.csv (8 columns, "
        "no header) or a comma-separated file with header starting 'ID,TITLE,'"
    )


def find_input_file(path: str) -> str:
    """A file, or the single data file of a SageMaker channel directory."""
    if os.path.isdir(path):
        candidates = sorted(
            os.path.join(path, name) for name in os.listdir(path)
            if name.lower().endswith((".csv", ".zip", ".tsv", ".txt"))
        )
        if not candidates:
            raise DataError("{}: no .csv or .zip file in this folder".format(path))
        return candidates[0]
    if not os.path.exists(path):
        raise DataError("{}: no such file".format(path))
    return path


def load_headlines(path: str) -> LoadReport:
    """Every usable row of a News Aggregator file; malformed rows are counted and skipped."""
    path = find_input_file(path)
    try:
        stream, name = _open_text(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError("{}: cannot read ({})".format(path, error)) from error
    rows: List[Headline] = []
    skipped = 0
    with stream:
        try:
            source_format, reader = _rows(stream)
            for fields in reader:
                if len(fields) != len(COLUMNS):
                    skipped += 1
                    continue
                title, label, story = fields[1].strip(), fields[4].strip(), fields[5].strip()
                if not title or label not in LABEL_CODES or not story:
                    skipped += 1
                    continue
                rows.append(Headline(title, label, story))
        except (csv.Error, UnicodeError, OSError) as error:
            raise DataError("{}: cannot parse ({})".format(path, error)) from error
    if skipped:
        LOG.warning("%s: skipped %d malformed row(s)", name, skipped)
    if not rows:
        raise DataError("{}: no usable rows (skipped {} malformed)".format(path, skipped))
    return LoadReport(rows, skipped, source_format)


class Split(NamedTuple):
    train: List[Headline]
    validation: List[Headline]
    test: List[Headline]


def split_by_story(rows: Sequence[Headline], validation_fraction: float, test_fraction: float,
                   seed: int) -> Split:
    """Deterministic split in which every story falls on exactly one side."""
    by_story: Dict[str, List[Headline]] = {}
    for row in rows:
        by_story.setdefault(row.story, []).append(row)
    stories = sorted(by_story)
    random.Random(seed).shuffle(stories)
    total = len(rows)
    test: List[Headline] = []
    validation: List[Headline] = []
    train: List[Headline] = []
    for story in stories:
        if len(test) < test_fraction * total:
            test.extend(by_story[story])
        elif len(validation) < validation_fraction * total:
            validation.extend(by_story[story])
        else:
            train.extend(by_story[story])
    return Split(train, validation, test)


def split_random_leaky(rows: Sequence[Headline], validation_fraction: float, test_fraction: float,
                       seed: int) -> Split:
    """Row-level split: near-duplicate headlines of a story leak across sides (flatters scores)."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    n_test = int(round(test_fraction * len(shuffled)))
    n_val = int(round(validation_fraction * len(shuffled)))
    return Split(shuffled[n_test + n_val:], shuffled[n_test:n_test + n_val], shuffled[:n_test])


def make_split(rows: Sequence[Headline], how: str, validation_fraction: float,
               test_fraction: float, seed: int, test_rows: Optional[Sequence[Headline]] = None) -> Split:
    """The train/validation/test sides; with ``test_rows`` the test side is that file instead."""
    splitter = {"story": split_by_story, "random_leaky": split_random_leaky}.get(how)
    if splitter is None:
        raise DataError("unknown split '{}': use 'story' or 'random_leaky'".format(how))
    if test_rows is not None:
        inner = splitter(rows, validation_fraction, 0.0, seed)
        split = Split(inner.train, inner.validation, list(test_rows))
    else:
        split = splitter(rows, validation_fraction, test_fraction, seed)
    for side, name in ((split.train, "training"), (split.validation, "validation"), (split.test, "test")):
        if not side:
            raise DataError("the {} side of the split is empty: too little data".format(name))
    return split


def label_counts(rows: Sequence[Headline]) -> Dict[str, int]:
    counts = Counter(row.label for row in rows)
    return {code: counts.get(code, 0) for code in LABEL_CODES}


def category_mix(rows: Sequence[Headline]) -> Dict[str, float]:
    """Each category's share of ``rows`` by the API's names (metrics.json ``data.category_mix``):
    the baseline the drift check compares live traffic with."""
    counts = label_counts(rows)
    total = sum(counts.values())
    return {name: round(counts[code] / total, 6) if total else 0.0 for code, name in LABELS}
