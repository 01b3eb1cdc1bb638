"""The local store (headlines/results/store.py): the spool compacted into Parquet parts, with
several handler processes writing at once, writers and compactions killed with SIGKILL, small
parts merged, and a full disk: no record lost, none repeated, none torn, the store readable."""
from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headlines.file_modules import load_lambda
from headlines.project import FUNCTIONS_DIR
from headlines.results import store as store_module
from headlines.results.store import Store, StoreError

sink_module = load_lambda("api", "results_sink")
record_module = load_lambda("api", "results_record")
PREDICTION = {"category": "entertainment", "label": "e", "confidence": 0.55,
              "scores": {"business": 0.15, "science_technology": 0.15, "entertainment": 0.55, "health": 0.15}}

# A handler process stand-in: appends COUNT records named PREFIX-<n> through the real spool sink.
WRITER = """
import sys
sys.path.insert(0, {functions!r})
import results_record, results_sink
spool, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
prediction = {prediction!r}
sink = results_sink.SpoolSink(spool, max_bytes=int(sys.argv[4]))
for n in range(count):
    sink.put([results_record.build(prediction, headline="x" * 200, request_id=f"{{prefix}}-{{n}}", source="api",
                                   model_version="v1", latency_ms=1.0)])
print(sink.dropped, flush=True)
""".format(functions=str(FUNCTIONS_DIR / "api"), prediction=PREDICTION)


def writer(spool: Path, prefix: str, count: int, max_bytes: int = 1 << 20) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(spool), prefix, str(count), str(max_bytes)],
                            stdout=subprocess.PIPE, text=True)


def put(store: Store, count: int, prefix: str = "r"):
    sink = sink_module.SpoolSink(str(store.spool))
    sink.put([record_module.build(PREDICTION, headline=f"h{n}", request_id=f"{prefix}-{n}", source="api",
                                  model_version="v1", latency_ms=1.0) for n in range(count)])
    return sink


def ids(store: Store):
    with store.connect(compact=False) as connection:
        return [row[0] for row in connection.execute("SELECT request_id FROM results").fetchall()]


def test_an_empty_store_reads_as_an_empty_table_of_the_schema(tmp_path):
    with Store(tmp_path / "results").connect() as connection:
        assert connection.execute("SELECT count(*) FROM results").fetchone() == (0,)
        assert [row[0] for row in connection.execute("DESCRIBE results").fetchall()][:2] == ["time", "request_id"]
    assert not (tmp_path / "results").exists(), "reading makes no folder"


def test_compaction_reads_an_open_spool_file_up_to_its_last_line_and_deletes_finished_ones(tmp_path):
    store = Store(tmp_path)
    sink = put(store, 3)
    assert store.compact().records == 3
    assert len(list(store.spool.glob("*.jsonl"))) == 1, "its writer still holds it"
    sink.put([record_module.build(PREDICTION, headline="more", request_id="r-3", source="api", model_version="v1",
                                  latency_ms=1.0)])
    sink.close()
    done = store.compact()
    assert done.records == 1 and done.spool_files_removed == 1
    assert sorted(ids(store)) == ["r-0", "r-1", "r-2", "r-3"]
    assert list(store.spool.glob("*")) == [] and not list(store.parts.glob(".*"))


def test_small_parts_are_merged_into_one(tmp_path):
    store = Store(tmp_path)
    for batch in range(store_module.MERGE_COUNT):
        put(store, 2, prefix=f"b{batch}").close()
        store.compact()
    manifest = store.manifest()
    assert len(manifest.parts) == 1 and manifest.rows == 2 * store_module.MERGE_COUNT
    assert [p.name for p in store.parts.iterdir()] == [manifest.parts[0]["file"]]
    assert len(set(ids(store))) == 2 * store_module.MERGE_COUNT


def test_several_processes_writing_at_once_lose_and_tear_nothing(tmp_path):
    store = Store(tmp_path)
    # Small spool files: the writers rotate while compactions run beside them.
    writers = [writer(store.spool, f"w{n}", 1500, max_bytes=64 * 1024) for n in range(4)]
    compactions = 0
    while any(w.poll() is None for w in writers):
        store.compact()
        compactions += 1
    assert [w.communicate()[0].strip() for w in writers] == ["0"] * 4  # nothing dropped
    store.compact()
    found = ids(store)
    assert len(found) == 6000 and len(set(found)) == 6000 and compactions >= 1
    assert store.manifest().torn == 0


def test_a_writer_killed_mid_write_loses_at_most_the_record_in_flight(tmp_path):
    store = Store(tmp_path)
    process = writer(store.spool, "k", 10_000_000)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(p.stat().st_size for p in store.spool.glob("*.jsonl")) < 300_000:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    lines = b"".join(p.read_bytes() for p in store.spool.glob("*.jsonl"))
    complete = lines.count(b"\n")
    store.compact()
    found = ids(store)
    assert len(found) == complete == len(set(found)) and complete > 100
    assert store.manifest().torn in (0, 1) and list(store.spool.glob("*.jsonl")) == []
    numbers = sorted(int(i.split("-")[1]) for i in found)
    assert numbers == list(range(len(numbers))), "the records written before the kill, all of them"


def test_a_compaction_killed_at_any_point_neither_loses_nor_repeats_a_record(tmp_path):
    store = Store(tmp_path)
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
            "from headlines.results.store import Store\n"
            f"Store({str(tmp_path)!r}).compact()")
    total = 0
    for round_ in range(6):
        put(store, 500, prefix=f"c{round_}").close()
        total += 500
        process = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.05 * round_)  # from before DuckDB starts to after the manifest is written
        process.send_signal(signal.SIGKILL)
        process.wait()
    store.compact()
    found = ids(store)
    assert len(found) == total and len(set(found)) == total
    assert {p.name for p in store.parts.iterdir()} == {p["file"] for p in store.manifest().parts}


def test_a_full_disk_fails_the_compaction_but_keeps_the_store_readable_and_the_spool(tmp_path, monkeypatch):
    store = Store(tmp_path)
    put(store, 3, prefix="a").close()
    store.compact()
    put(store, 2, prefix="b").close()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_write_part", full)
    with pytest.raises(StoreError, match="No space left on device"):
        store.compact()
    with store.connect() as connection:  # the failed compaction is skipped: what is stored reads
        assert connection.execute("SELECT count(*) FROM results").fetchone() == (3,)
    monkeypatch.undo()
    assert store.compact().records == 2 and len(ids(store)) == 5


def test_lines_that_are_not_records_are_skipped(tmp_path):
    store = Store(tmp_path)
    put(store, 2).close()
    store.spool.mkdir(exist_ok=True)
    (store.spool / "junk.jsonl").write_bytes(b'not json\n{"time": "nope"}\n{"request_id": "x"}\n{"tor')
    done = store.compact()
    assert done.records == 2 and done.torn == 1 and sorted(ids(store)) == ["r-0", "r-1"]


def test_a_broken_manifest_is_one_error(tmp_path):
    store = Store(tmp_path)
    store.root.mkdir(exist_ok=True)
    store.manifest_path.write_text("{broken")
    with pytest.raises(StoreError, match="cannot read .*manifest.json"):
        with store.connect(compact=False):
            pass


def test_the_spool_environment_names_the_store(tmp_path):
    store = Store(tmp_path)
    environment = store_module.spool_environment(store, store_text=False)
    assert environment["RESULTS_DIR"] == str(store.spool.resolve()) and environment["RESULTS_STORE_TEXT"] == "false"
    recorder = load_lambda("api", "results_recorder").from_environ({k: v for k, v in environment.items() if v})
    assert recorder.enabled and recorder.hash_key and len(recorder.hash_key) == 32
    assert oct(store.key_file.stat().st_mode & 0o777) == "0o600"
    again = load_lambda("api", "results_recorder").from_environ({k: v for k, v in environment.items() if v})
    assert again.hash_key == recorder.hash_key, "every handler process hashes with the same key"


def test_a_compaction_with_nothing_new_writes_nothing(tmp_path):
    store = Store(tmp_path)
    put(store, 2).close()
    store.compact()
    store.compact()  # forgets the offset of the spool file the first one deleted
    before = store.manifest_path.stat().st_mtime_ns
    assert store.compact().records == 0 and store.manifest_path.stat().st_mtime_ns == before
    sink = put(store, 1, prefix="late")
    assert store.compact().records == 1 and store.manifest_path.stat().st_mtime_ns != before
    sink.close()  # finished later, fully read already: still deleted
    assert store.compact().spool_files_removed == 1 and list(store.spool.glob("*.jsonl")) == []
