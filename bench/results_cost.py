"""What a million result records cost in AWS (docs/aws.md's cost table), from measured sizes.

Builds ``--records`` records with the API's record builder (functions/api/results_record.py:
realistic headlines of 6-12 words, four scores, a request id, UTC times over a day), then
measures what the cost depends on: the JSON line Firehose ingests (Direct PUT bills each
record rounded up to 5 KB), the Parquet Firehose writes (Snappy, written here with DuckDB:
Firehose's own files of 128 MiB buffers compress at least as well) and the bytes of the
columns the dashboard's queries read (what Athena scans). Prints the figures and the cost of a
million records at the list prices below (us-east-1, verify on the AWS pricing pages).

    python bench/results_cost.py [--records 100000]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions" / "api"))
sys.path.insert(0, str(ROOT))

FIREHOSE_PER_GB = 0.029  # Direct PUT ingestion, first 500 TB/month, each record rounded up to 5 KB
FIREHOSE_ROUNDING = 5 * 1024
CONVERSION_PER_GB = 0.018  # record format conversion (JSON -> Parquet), per GB ingested
S3_PER_GB_MONTH = 0.023
S3_PUT_PER_1000 = 0.005
ATHENA_PER_TB = 5.0  # per TB scanned, 10 MB minimum per query
ATHENA_MIN_BYTES = 10 * 1024 * 1024
QUERY_COLUMNS = ("time", "category", "confidence", "source", "request_id", "latency_ms", "model_version")


def main() -> None:
    import duckdb
    import results_record

    from headlines.results import schema

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    n = args.records
    random.seed(1)
    words = (ROOT / "headlines" / "sample_data" / "sample-feed.xml").read_text().split()
    categories = [("b", "business"), ("t", "science_technology"), ("e", "entertainment"), ("m", "health")]
    folder = Path(tempfile.mkdtemp(prefix="results-cost-"))
    json_bytes = 0
    with open(folder / "records.jsonl", "wb") as handle:
        for _ in range(n):
            code, name = random.choice(categories)
            confidence = random.random()
            headline = " ".join(random.choice(words) for _ in range(random.randint(6, 12)))[:120]
            record = results_record.build(
                {"category": name, "label": code, "confidence": confidence,
                 "scores": {n_: (confidence if n_ == name else (1 - confidence) / 3) for _, n_ in categories}},
                headline=headline, request_id=f"{random.getrandbits(64):016x}", source="api",
                model_version="0123456789abcdef", latency_ms=random.uniform(5, 50), when=time.time() - random.uniform(0, 86400))
            line = results_record.to_line(record)
            json_bytes += len(line)
            handle.write(line)
    connection = duckdb.connect()
    connection.execute(f"COPY (SELECT * FROM read_json('{folder}/records.jsonl', columns={schema.duckdb_columns()!r}, "
                       f"format='newline_delimited')) TO '{folder}/records.parquet' (FORMAT parquet, COMPRESSION snappy)")
    parquet = os.path.getsize(folder / "records.parquet")
    columns = ", ".join(f"'{c}'" for c in QUERY_COLUMNS)
    scanned = connection.execute(f"SELECT sum(total_compressed_size) FROM parquet_metadata('{folder}/records.parquet') "
                                 f"WHERE path_in_schema IN ({columns})").fetchone()[0]
    per_record = {"json": json_bytes / n, "parquet": parquet / n, "scanned": scanned / n}
    million = 1_000_000
    gb = 1024 ** 3
    ingest_gb = million * max(FIREHOSE_ROUNDING, per_record["json"]) / gb
    parquet_gb = million * per_record["parquet"] / gb
    scanned_gb = million * per_record["scanned"] / gb
    costs = {
        "Firehose ingestion (Direct PUT, 5 KB rounding)": ingest_gb * FIREHOSE_PER_GB,
        "Firehose format conversion to Parquet": ingest_gb * CONVERSION_PER_GB,
        "S3 storage of the Parquet, per month": parquet_gb * S3_PER_GB_MONTH,
        "Athena, the 5 dashboard queries once over the million": 5 * max(scanned_gb * gb, ATHENA_MIN_BYTES) / 1024 ** 4 * ATHENA_PER_TB,
    }
    print(f"per record: JSON line {per_record['json']:.0f} B, Parquet {per_record['parquet']:.0f} B, "
          f"columns the queries read {per_record['scanned']:.0f} B  ({n:,} records measured)")
    print(f"a million records: ingested (billed) {ingest_gb:.2f} GB, Parquet {parquet_gb * 1024:.0f} MB, "
          f"scanned per query {scanned_gb * 1024:.0f} MB")
    for what, dollars in costs.items():
        print(f"  {what:<58} ${dollars:.3f}")
    print(f"  {'total':<58} ${sum(costs.values()):.3f}")
    print(f"S3 PUTs: one object per buffer (128 MiB or 5 minutes): at most 8,640 a month, ${8640 / 1000 * S3_PUT_PER_1000:.3f}")


if __name__ == "__main__":
    main()
