"""The data of the local dashboard (``GET /dashboard/data``): the summary, the dashboard's SQL
files (the same as Athena's named queries) and the latest answers, as one JSON document.

The page (``web/``) draws it with Chart.js; the HTTP route is ``headlines/local/dashboard.py``.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from headlines.results import schema
from headlines.results.store import Store
from headlines.results.summary import baseline, summarize

WEB_DIR = Path(__file__).resolve().parent / "web"
# The SQL files the page draws (traffic_per_source, with its exact count of distinct requests,
# is for Athena's named queries and `headlines results query`).
DRAWN = ("category_mix_per_hour", "confidence_distribution", "low_confidence_share_per_model_version",
         "most_uncertain_headlines")
LATEST = 20
UNCERTAIN = 20
LATEST_SQL = ("SELECT \"time\", source, model_version, coalesce(headline, headline_hash) AS headline, category, confidence "
              f"FROM results ORDER BY \"time\" DESC, request_id LIMIT {LATEST}")


def _value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return value


def _rows(connection: Any, sql: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
    cursor = connection.execute(sql)
    columns = [column[0] for column in cursor.description]
    rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
    return [{name: _value(value) for name, value in zip(columns, row)} for row in rows]


def data(store: Store, model_dir: Optional[Path]) -> Dict[str, Any]:
    """Everything the page shows, read from ``store`` (compacted first)."""
    with store.connect() as connection:
        document: Dict[str, Any] = {"summary": summarize(connection, None, baseline(model_dir))}
        for query in (q for q in schema.queries() if q.name in DRAWN):
            limit = UNCERTAIN if query.name == "most_uncertain_headlines" else None
            document[query.name] = _rows(connection, query.sql, limit)
        document["latest"] = _rows(connection, LATEST_SQL)
    document["categories"] = schema.document()["categories"]
    document["dropped"] = {"torn": store.manifest().torn}
    return document
