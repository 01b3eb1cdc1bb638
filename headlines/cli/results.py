"""``headlines results summary|query|export``: the local store of result records
(headlines/results/; docs/results.md).

Each command compacts the spool first (what the API has recorded so far), then reads the
store through DuckDB's view ``results``; a store that cannot be compacted is still read as
it is. A bad ``--since``, a query DuckDB refuses, or an output that cannot be written is one
``error:`` line.
"""
from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path
from typing import Any, List

from headlines.errors import UserError

EXPORT_FORMATS = ("csv", "parquet")


class QueryError(UserError):
    """DuckDB refused the query (its message says why)."""


def register(commands: Any) -> None:
    results = commands.add_parser("results", help="the recorded answers of the local API: summary, SQL, export")
    actions = results.add_subparsers(dest="results_command", required=True, metavar="ACTION")

    summary = actions.add_parser("summary", help="records per category, source and model, confidence and drift")
    summary.add_argument("--since", metavar="WHEN", help="only records since WHEN: 30m, 6h, 7d, or a UTC date/time")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    summary.set_defaults(run=cmd_summary, needs_console=False)

    query = actions.add_parser("query", help="run SQL over the table `results` (DuckDB)")
    query.add_argument("sql", metavar="SQL")
    query.add_argument("--json", action="store_true", help="print the rows as JSON objects")
    query.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    query.set_defaults(run=cmd_query, needs_console=False)

    export = actions.add_parser("export", help="write the records to a CSV or Parquet file")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--output", type=Path, required=True, metavar="FILE")
    export.add_argument("--since", metavar="WHEN", help="only records since WHEN: 30m, 6h, 7d, or a UTC date/time")
    export.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    export.set_defaults(run=cmd_export, needs_console=False)


def _store(args: argparse.Namespace) -> Any:
    from headlines.results.store import default_store

    return default_store(Path(args.workdir))


def _since(args: argparse.Namespace) -> Any:
    from headlines.results.summary import parse_since

    return parse_since(args.since) if args.since else None


def _run(connection: Any, sql: str) -> Any:
    import duckdb

    try:
        return connection.execute(sql)
    except duckdb.Error as error:
        raise QueryError(f"the query failed: {str(error).splitlines()[0]}") from None


def cmd_summary(args: argparse.Namespace, console: Any) -> int:
    from headlines.results.summary import baseline, summarize
    from headlines.workdir import current_model

    since = _since(args)
    model = current_model(Path(args.workdir))
    with _store(args).connect() as connection:
        summary = summarize(connection, since, baseline(model))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['records']:,} records" + (f" since {summary['since']}" if since else "")
          + (f", {summary['first']} to {summary['last']}" if summary["records"] else ""))
    for category, count in summary["by_category"].items():
        share = summary["category_mix"].get(category)
        print(f"  {category:<20} {count:>9,}" + (f"  {share:6.1%}" if share is not None else ""))
    for source, count in summary["by_source"].items():
        print(f"  source {source:<13} {count:>9,}")
    low = summary["low_confidence"]
    if summary["records"]:
        print(f"mean confidence {summary['mean_confidence']:.3f}; below {low['below']}: {low['share']:.1%}")
    drift = summary["drift"]["category_distance"]
    print(f"drift from the training mix: {drift:.3f}" if drift is not None
          else "drift: no baseline (the model's metrics.json has no data.category_mix) or no records")
    return 0


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else str(value)


def cmd_query(args: argparse.Namespace, console: Any) -> int:
    with _store(args).connect() as connection:
        cursor = _run(connection, args.sql)
        columns: List[str] = [column[0] for column in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    if args.json:
        print(json.dumps([{name: _plain(value) for name, value in zip(columns, row)} for row in rows],
                         indent=2, default=str))
        return 0
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if value is None else str(value) for value in row))
    return 0


def _export_sql(fmt: str, where: str) -> str:
    from headlines.results import schema

    columns = "*"
    if fmt == "csv":  # CSV has no struct: one column per score
        scores = [name for name, _ in schema.struct_members(next(f.type for f in schema.fields() if f.name == "scores"))]
        columns = "* EXCLUDE (scores), " + ", ".join(f"scores.{name} AS score_{name}" for name in scores)
    return f"SELECT {columns} FROM results {where} ORDER BY \"time\", request_id"


def cmd_export(args: argparse.Namespace, console: Any) -> int:
    output: Path = args.output
    if output.is_dir():
        raise UserError(f"--output {output} is a folder; name a file")
    output.parent.mkdir(parents=True, exist_ok=True)
    from headlines.results.summary import where_since

    where = where_since(_since(args))
    temporary = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    options = "FORMAT parquet, COMPRESSION zstd" if args.format == "parquet" else "FORMAT csv, HEADER true"
    try:
        with _store(args).connect() as connection:
            target = str(temporary).replace("'", "''")
            _run(connection, f"COPY ({_export_sql(args.format, where)}) TO '{target}' ({options})")
            count = connection.execute(f"SELECT count(*) FROM results {where}").fetchone()[0]
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    print(f"{count:,} records -> {output}")
    return 0
