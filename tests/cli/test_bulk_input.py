"""Bulk scoring's input and output, without a model: every format read as a stream, bad rows
skipped with their line numbers, unusable files refused with one line, answers written in order
under a temporary name; and ``headlines classify --input`` failing with one ``error:`` line."""
from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from test_cli_errors import headlines, one_error_line

from headlines.artifacts import atomic_file
from headlines.bulk_input import MAX_LINE_BYTES, BadRow, HeadlineReader, InputError, Options, Row
from headlines.bulk_output import AnswerWriter, output_format
from headlines.local.bulk import score

NEWS = Path(__file__).resolve().parents[1] / "fixtures" / "news"


def read(path: Path, **options) -> tuple:
    with HeadlineReader(path, Options(**options)) as reader:
        return reader.format, list(reader)


def rows(items) -> list:
    return [(item.line, item.text) for item in items if isinstance(item, Row)]


def bad(items) -> list:
    return [(item.line, item.reason) for item in items if isinstance(item, BadRow)]


@pytest.mark.parametrize("name, content, expected_format", [
    ("h.txt", "Fed raises rates\nApple, Google sign deal\n", "text"),
    ("h.csv", "id,headline\n1,Fed raises rates\n2,\"Apple, Google sign deal\"\n", "csv"),
    ("h.jsonl", '{"headline": "Fed raises rates"}\n"Apple, Google sign deal"\n', "jsonl"),
    ("h.data", '{"headline": "Fed raises rates"}\n{"headline": "Apple, Google sign deal"}\n', "jsonl"),
])
def test_each_format_is_detected_and_read_in_order(tmp_path, name, content, expected_format):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    found, items = read(path)
    assert found == expected_format
    assert [text for _, text in rows(items)] == ["Fed raises rates", "Apple, Google sign deal"]


def test_both_news_aggregator_formats_give_their_titles():
    tab_format, tab_items = read(NEWS / "newsCorpora-small.csv")
    csv_format, csv_items = read(NEWS / "uci-news-aggregator-small.csv")
    assert (tab_format, csv_format) == ("newscorpora", "uci-csv")
    first_tab = (NEWS / "newsCorpora-small.csv").read_text(encoding="utf-8").splitlines()[0].split("\t")[1]
    assert rows(tab_items)[0] == (1, first_tab)
    assert rows(csv_items)[0][0] == 2 and rows(csv_items)[0][1].startswith("Fed official says weak data")
    assert len(rows(tab_items)) > 100 and len(rows(csv_items)) > 100


def test_gzip_and_a_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "h.txt.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbfFed raises rates\nEbola spreads\n"))
    assert read(path) == ("text", [Row(1, "Fed raises rates"), Row(2, "Ebola spreads")])


def test_bad_rows_are_skipped_with_their_line_numbers(tmp_path):
    path = tmp_path / "mixed.txt"
    long_line = b"x" * (MAX_LINE_BYTES + 10)
    path.write_bytes(b"Fed raises rates\n\n" + "caf\u00e9 opens".encode("latin-1") + b"\n" + long_line + b"\n"
                     + b"nul\0byte\n" + "y".encode() * 400 + b"\nEbola spreads\n")
    _, items = read(path, max_chars=300)
    assert rows(items) == [(1, "Fed raises rates"), (7, "Ebola spreads")]
    reasons = dict(bad(items))
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "empty" in reasons[2] and "not UTF-8" in reasons[3] and f"longer than {MAX_LINE_BYTES} bytes" in reasons[4]
    assert "binary" in reasons[5] and "longer than 300 characters" in reasons[6]


def test_bad_csv_and_json_rows_name_their_lines(tmp_path):
    csv_path = tmp_path / "h.csv"
    csv_path.write_text("id,title\n1,Fed raises rates\n2\n3,\n4,\"multi\nline\"\n5,Ebola spreads\n", encoding="utf-8")
    _, items = read(csv_path)
    assert rows(items) == [(2, "Fed raises rates"), (5, "multi\nline"), (7, "Ebola spreads")]
    assert [line for line, _ in bad(items)] == [3, 4]
    json_path = tmp_path / "h.jsonl"
    json_path.write_text('{"title": "Fed raises rates"}\n{oops\n{"other": 1}\n{"title": 5}\n', encoding="utf-8")
    _, items = read(json_path, field="title")
    assert rows(items) == [(1, "Fed raises rates")]
    assert [line for line, _ in bad(items)] == [2, 3, 4]


@pytest.mark.parametrize("content, message", [
    (b"", "empty: no headline to score"),
    (b"\n \n", "empty: no headline to score"),
    (b"Fed raises rates\n\x00\x01\x02binary", ":2: binary data"),
    (b"PK\x03\x04rest", "a zip archive"),
])
def test_unusable_files_are_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read(path)
    assert str(raised.value).startswith(str(path)) and message in str(raised.value)


def test_a_csv_without_the_column_names_the_columns(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,body\n1,Fed raises rates\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"h.csv:1: no column headline or title or text .*columns: id, body.*--column"):
        read(path)
    assert rows(read(path, column="body")[1]) == [(2, "Fed raises rates")]


def test_the_output_format_comes_from_the_extension_or_the_flag():
    assert output_format(Path("a.csv"), None) == "csv" and output_format(Path("a.jsonl"), None) == "jsonl"
    assert output_format(Path("a.out"), "jsonl") == "jsonl"
    with pytest.raises(ValueError, match="--output-format"):
        output_format(Path("a.out"), None)


PREDICTION = {"category": "business", "label": "b", "confidence": 0.9,
              "scores": {"business": 0.9, "science_technology": 0.05, "entertainment": 0.03, "health": 0.02}}


def fake_scorer(texts):
    return [dict(PREDICTION, confidence=float(len(text))) for text in texts]


def test_answers_come_in_input_order_with_bounded_batches_in_flight(tmp_path):
    items = [Row(line, f"headline {line}") if line % 7 else BadRow(line, "empty headline") for line in range(1, 5001)]
    out = io.StringIO()
    writer = AnswerWriter(out, "jsonl", "v1")
    skipped = []
    latencies = []

    def write(lines, texts, predictions, latency_ms):
        writer.write(lines, texts, predictions)
        latencies.append(latency_ms)

    summary = score(iter(items), fake_scorer, write, in_flight=4, on_bad=skipped.append, batch_size=64)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [record["line"] for record in records] == [item.line for item in items if isinstance(item, Row)]
    assert all(record["headline"] == f"headline {record['line']}" for record in records)
    assert summary.scored == len(records) and summary.bad == len(skipped) == 5000 // 7
    assert len(latencies) == -(-summary.scored // 64) and all(latency >= 0 for latency in latencies)


def test_memory_stays_flat_as_the_input_grows(tmp_path):
    """Reading and batching hold a bounded number of rows, whatever the file's size."""
    def peak(lines: int) -> int:
        path = tmp_path / f"{lines}.txt"
        path.write_text("".join(f"Fed raises rates again {i}\n" for i in range(lines)), encoding="utf-8")
        tracemalloc.start()
        with HeadlineReader(path) as reader, open(tmp_path / "out.csv", "w", encoding="utf-8") as handle:
            writer = AnswerWriter(handle, "csv", "v1")
            score(reader, fake_scorer, lambda *answers: writer.write(*answers[:3]), in_flight=2, on_bad=print, batch_size=500)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(5_000), peak(50_000)
    assert large < small * 1.5


def test_an_error_while_writing_leaves_nothing_under_the_output_name(tmp_path):
    target = tmp_path / "answers.csv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target) as handle:
            handle.write("line,headline\n")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, extra, message", [
    (None, [], "input.txt: no such file"),
    (b"", [], "input.txt: empty"),
    (b"ok\n\0\0\0", [], "input.txt:2: binary data"),
    (b"Fed raises rates\n", ["--format", "csv"], "input.txt:1: no column"),
])
def test_classify_input_errors_are_one_line_and_leave_no_output(tmp_path, content, extra, message):
    source = tmp_path / "input.txt"
    if content is not None:
        source.write_bytes(content)
    (tmp_path / "model").mkdir()  # the input is refused before a model is loaded
    result = headlines("classify", "--input", str(source), "--output", str(tmp_path / "out.csv"),
                       "--model", str(tmp_path / "model"), *extra, timeout=60)
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert not (tmp_path / "out.csv").exists()


def test_classify_needs_text_or_an_input_file(tmp_path):
    result = headlines("classify", "--output", str(tmp_path / "out.csv"), timeout=60)
    assert result.returncode == 2 and "--input FILE and --output FILE go together" in one_error_line(result)
    result = headlines("classify", timeout=60)
    assert result.returncode == 2 and "--input FILE --output FILE" in one_error_line(result)
