#!/usr/bin/env python
"""Bulk scoring benchmark: ``headlines classify --input`` against the model's own throughput, and
the scorer's memory as the file grows.

Prints, from one run on this machine:

1. the model in-process: ``model_fn`` once, then ``predict_fn`` on batches of the local batch
   size, in the container's Python (``.venv-sagemaker``: 3.8, mxnet 1.9.0), one process;
2. bulk scoring as ``headlines classify --input`` does it: the file read as a stream, batches
   POSTed to the real serving container (AWS's MXNet serving toolkit behind Multi Model Server,
   one worker per CPU), answers written in order to a CSV; the container's start is not counted;
3. their ratio (the target: at least 70 %);
4. the peak RSS of the scoring process (reader, batches in flight, writer) for files of 10k,
   100k and 1M lines, each in a fresh process, with the container's answer replaced by a
   constant one so that a million lines take seconds: the container's own memory does not depend
   on the file (one request at a time per worker).

Usage: ``python bench/bulk.py [--model DIR] [--lines N] [--memory-lines 10000,100000,1000000]``.
Default model: the current local one (``.headlines/model``).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "headlines" / "sample_data" / "newsCorpora-sample.csv.gz"

IN_PROCESS = """
import json, sys, time
model_dir, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, model_dir + "/code")
import inference
model = inference.model_fn(model_dir)
texts = [line.rstrip("\\n") for line in open(path, encoding="utf-8")]
inference.predict_fn(texts[:batch], model)  # warm
start = time.perf_counter()
for i in range(0, len(texts), batch):
    inference.predict_fn(texts[i:i + batch], model)
print(json.dumps({"seconds": time.perf_counter() - start, "count": len(texts)}))
"""


def write_headlines(path: Path, count: int) -> Path:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        titles = [line.split("\t")[1] for line in handle if line.count("\t") == 7]
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(f"{titles[i % len(titles)]} {i // len(titles)}\n")
    return path


def in_process(model_dir: Path, path: Path, batch: int) -> dict:
    from headlines.local import container_env

    result = subprocess.run([str(container_env.python()), "-c", IN_PROCESS, str(model_dir), str(path), str(batch)],
                            capture_output=True, text=True, check=True, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bulk(model_dir: Path, path: Path, out: Path) -> dict:
    from headlines.bulk_input import HeadlineReader
    from headlines.bulk_output import AnswerWriter
    from headlines.local import bulk as local_bulk
    from headlines.local.endpoint import start_model_server
    from headlines.transform import LOCAL_BATCH_SIZE, container_environment

    server = start_model_server(model_dir, environment=container_environment(LOCAL_BATCH_SIZE))
    try:
        scorer = local_bulk.BatchScorer(server)
        with HeadlineReader(path) as reader, out.open("w", encoding="utf-8") as handle:
            writer = AnswerWriter(handle, "csv", "bench")
            summary = local_bulk.score(reader, scorer, lambda *answers: writer.write(*answers[:3]),
                                       in_flight=2 * server.workers, on_bad=print)
        return {"seconds": summary.seconds, "count": summary.scored, "workers": server.workers}
    finally:
        server.stop()


MEMORY = """
import json, resource, sys
sys.path.insert(0, sys.argv[3])
from headlines.bulk_input import HeadlineReader
from headlines.bulk_output import AnswerWriter
from headlines.local.bulk import score
ANSWER = {"category": "business", "label": "b", "confidence": 0.9,
          "scores": {"business": 0.9, "science_technology": 0.05, "entertainment": 0.03, "health": 0.02}}
with HeadlineReader(sys.argv[1]) as reader, open(sys.argv[2], "w", encoding="utf-8") as handle:
    writer = AnswerWriter(handle, "csv", "v")
    summary = score(reader, lambda texts: [ANSWER] * len(texts), lambda *answers: writer.write(*answers[:3]),
                    in_flight=4, on_bad=print)
print(json.dumps({"count": summary.scored, "seconds": summary.seconds,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def memory(path: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", MEMORY, str(path), str(out), str(REPO)],
                            capture_output=True, text=True, check=True, timeout=900)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / ".headlines" / "model")
    parser.add_argument("--lines", type=int, default=20_000, help="headlines scored by the model and by bulk scoring")
    parser.add_argument("--memory-lines", default="10000,100000,1000000")
    args = parser.parse_args()
    from headlines.transform import LOCAL_BATCH_SIZE

    print(f"command: python bench/bulk.py --lines {args.lines} --memory-lines {args.memory_lines}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (shared: compare within one run)")
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as folder:
        work = Path(folder)
        path = write_headlines(work / "headlines.txt", args.lines)
        model = in_process(args.model, path, LOCAL_BATCH_SIZE)
        served = bulk(args.model, path, work / "answers.csv")
        model_rate = model["count"] / model["seconds"]
        bulk_rate = served["count"] / served["seconds"]
        print(f"model in-process (predict_fn, batches of {LOCAL_BATCH_SIZE}): {model_rate:,.0f} headlines/s")
        print(f"bulk scoring (container, {served['workers']} workers): {bulk_rate:,.0f} headlines/s "
              f"({served['count']:,} in {served['seconds']:.1f} s)")
        print(f"bulk / in-process: {bulk_rate / model_rate:.0%} (target >= 70 %)")
        for lines in (int(n) for n in args.memory_lines.split(",")):
            big = write_headlines(work / f"{lines}.txt", lines)
            found = memory(big, work / "memory.csv")
            print(f"scoring process peak RSS at {lines:>9,} lines: {found['max_rss_mb']:.0f} MB "
                  f"({found['count'] / found['seconds']:,.0f} lines/s without the model)")
            big.unlink()
    print(f"load average after: {os.getloadavg()[0]:.2f}; own peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
