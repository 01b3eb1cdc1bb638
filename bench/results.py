#!/usr/bin/env python
"""Live results benchmark: what recording costs the API handler, and the local store at scale.

1. The Lambda handler (functions/api/app.py) as Lambda runs it, its endpoint call answered by
   botocore's Stubber, with and without recording into a local spool (``RESULTS_DIR``): p50
   and p99 per request, one headline and a batch of 100, measured in alternating blocks so that
   both see the same machine load. Target: recording adds <= 0.3 ms to the p99.
2. The local store with ``--records`` records (default 1,000,000) spooled by 4 "handler
   processes": the compaction into Parquet (ingest; target < 30 s), ``headlines results
   summary --json`` as a user runs it (a new process; target < 1 s) and the summary alone,
   the dashboard's data (target < 1 s), and the disk the store takes per million records (the
   headlines are the shipped sample's 10,854, cycled).

Usage: ``python bench/results.py [--records N] [--seconds S]``. On a shared machine, compare
figures from one run only.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ONE = "Fed raises interest rates again"
BATCH = [f"Headline {n} about markets, films, phones or health" for n in range(100)]
CATEGORIES = (("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health"))


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _answer(count: int) -> bytes:
    predictions = [{"label": code, "category": name, "confidence": 0.4 + 0.1 * (n % 5),
                    "scores": {other: (0.4 + 0.1 * (n % 5) if other == name else 0.1) for _, other in CATEGORIES}}
                   for n, (code, name) in ((n, CATEGORIES[n % 4]) for n in range(count))]
    return json.dumps({"predictions": predictions, "model": {"version": "bench"}}).encode()


def bench_handler(seconds: float) -> Dict[str, Dict[str, float]]:
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from headlines.local.api_front import build_event, handler_environment, load_handler

    spool = tempfile.mkdtemp(prefix="bench-spool-")
    env = handler_environment("http://127.0.0.1:9")
    env["POWERTOOLS_METRICS_DISABLED"] = "false"  # as in Lambda: the EMF metrics are part of the cost
    modules = {"without": load_handler(env), "with": load_handler({**env, "RESULTS_DIR": spool})}
    figures: Dict[str, Dict[str, float]] = {}

    class Context:
        function_name, function_version, memory_limit_in_mb, aws_request_id = "headlines-api", "$LATEST", 1024, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:headlines-api"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 28000

    for label, body in (("1", {"headline": ONE}), ("100", {"headlines": BATCH})):
        answer = _answer(1 if label == "1" else 100)
        event = build_event("POST", "/v1/classify", [("Host", "127.0.0.1"), ("Content-Type", "application/json")],
                            json.dumps(body).encode(), "bench-request")
        latencies: Dict[str, List[float]] = {"with": [], "without": []}
        block = 200 if label == "1" else 40
        deadline = time.monotonic() + seconds
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            while time.monotonic() < deadline:
                for name, module in modules.items():
                    with Stubber(module.runtime) as stub:
                        for _ in range(block):
                            stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(answer), len(answer))})
                        for _ in range(block):
                            started = time.perf_counter()
                            module.handler(event, Context())
                            latencies[name].append((time.perf_counter() - started) * 1000)
        for name, values in latencies.items():
            values = values[block:]  # the first block warms up
            figures[f"{name} recording, {label} headline(s)"] = {
                "n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99)}
    records = sum(1 for path in Path(spool).glob("*.jsonl") for _ in path.open())
    print(f"  (recorded {records:,} records while measuring)")
    # The recording alone (build, validate, JSON, one write), best of 5 runs of 2,000 calls: the
    # least load-sensitive figure of its cost.
    recorder = modules["with"].recorder
    prediction = json.loads(_answer(1))["predictions"]
    for count in (1, 100):
        calls = 2000 // count

        def record_all(texts: List[str] = BATCH[:count], predictions: list = prediction * count, calls: int = calls) -> None:
            for _ in range(calls):
                recorder.record(texts, predictions, request_id="r", model_version="v", latency_ms=1.0)

        best = _timed(record_all, repeat=5)
        figures[f"recorder.record alone, {count}"] = {"n": calls, "p50": best / calls * 1000, "p99": float("nan")}
    return figures


def _spool(store_dir: Path, records: int, writers: int = 4) -> float:
    """``records`` records, as ``writers`` handler processes spool them; returns the bytes written."""
    sys.path.insert(0, str(REPO / "functions" / "api"))
    import results_record

    spool = store_dir / "spool"
    spool.mkdir(parents=True)
    template = results_record.build(
        {"category": "business", "label": "b", "confidence": 0.5,
         "scores": {"business": 0.5, "science_technology": 0.2, "entertainment": 0.2, "health": 0.1}},
        headline="H", request_id="R", source="api", model_version="V", latency_ms=1.0, when=1_800_000_000)
    import gzip

    from headlines.local.sources import SAMPLE_NEWS

    with gzip.open(SAMPLE_NEWS, "rt", encoding="utf-8") as sample:  # real headlines, cycled
        titles = [line.split("\t")[1] for line in sample if line.count("\t") >= 4]
    start = 1_800_000_000.0
    written = 0
    for writer in range(writers):
        lines = []
        for n in range(writer, records, writers):
            code, name = CATEGORIES[n % 7 % 4]
            confidence = round(0.25 + (n % 71) / 100, 2)
            record = dict(template, time=results_record.format_time(start + n * 0.05), request_id=f"req-{n}",
                          category=name, label=code, confidence=confidence,
                          source=("api", "api", "feed", "batch")[n % 4], model_version=f"model-{n * 3 // records}",
                          headline=titles[n % len(titles)],
                          latency_ms=round(20 + (n % 13) * 1.7, 3))
            lines.append(results_record.to_line(record))
        data = b"".join(lines)
        (spool / f"bench-{writer}.jsonl").write_bytes(data)
        written += len(data)
    return written


def _timed(function: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def bench_store(records: int) -> Dict[str, float]:
    from headlines.results import dashboard
    from headlines.results.store import Store
    from headlines.results.summary import summarize

    workdir = Path(tempfile.mkdtemp(prefix="bench-results-"))
    store = Store(workdir / "results")
    spooled = _spool(store.root, records)
    started = time.perf_counter()
    done = store.compact()
    ingest = time.perf_counter() - started
    assert done.records == records, done
    parquet = sum(path.stat().st_size for path in store.parts.iterdir())

    def summary_in_process() -> None:
        with store.connect() as connection:
            summarize(connection)

    command = [sys.executable, "-m", "headlines.cli", "results", "summary", "--json", "--workdir", str(workdir)]
    cli = _timed(lambda: subprocess.run(command, check=True, capture_output=True))
    startup = _timed(lambda: subprocess.run([sys.executable, "-m", "headlines.cli", "--help"], check=True, capture_output=True))
    return {
        "records": records, "spool_mb": spooled / 1e6, "ingest_s": ingest,
        "summary_cli_s": cli, "cli_startup_s": startup, "summary_s": _timed(summary_in_process),
        "dashboard_data_s": _timed(lambda: dashboard.data(store, None)),
        "parquet_mb_per_million": parquet / 1e6 * 1_000_000 / records,
    }


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=6.0, help="per handler cell")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("handler, endpoint call stubbed (ms per request):")
    handler = bench_handler(args.seconds)
    print(f"  {'':<32} {'n':>6} {'p50':>8} {'p99':>8}")
    for name, row in handler.items():
        print(f"  {name:<32} {row['n']:>6} {row['p50']:>8.3f} {row['p99']:>8.3f}")
    print("  (recorder.record alone: the best mean of 5 runs, in the p50 column)")
    for label in ("1", "100"):
        extra = handler[f"with recording, {label} headline(s)"]["p99"] - handler[f"without recording, {label} headline(s)"]["p99"]
        print(f"  recording adds to the p99, {label:>3} headline(s): {extra:+.3f} ms   (target <= 0.3 ms for one)")
    print(f"store, {args.records:,} records:")
    store = bench_store(args.records)
    print(f"  spool written by 4 handlers:        {store['spool_mb']:8.1f} MB")
    print(f"  ingest (compaction into Parquet):   {store['ingest_s']:8.2f} s    (target < 30 s)")
    print(f"  headlines results summary --json:   {store['summary_cli_s']:8.2f} s    (target < 1 s; "
          f"of which the CLI's start {store['cli_startup_s']:.2f} s)")
    print(f"  summary alone (in process):         {store['summary_s']:8.3f} s")
    print(f"  the dashboard's data:               {store['dashboard_data_s']:8.3f} s    (target < 1 s)")
    print(f"  disk per million records (Parquet): {store['parquet_mb_per_million']:8.1f} MB")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
