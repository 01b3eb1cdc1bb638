"""``GET /dashboard`` on the local API: the page, its files and its data, answered by the API
front itself (the Lambda handler never sees these paths; the dashboard reads the local store
with DuckDB, which AWS replaces with a CloudWatch dashboard and Athena).

- ``/dashboard``: the page (``headlines/results/web/dashboard.html``);
- ``/dashboard/data``: what it draws (``headlines/results/dashboard.py``), read on each call;
- ``/dashboard/static/<name>``: its script and styles, and Chart.js (vendored).

The answers carry the API page's Content-Security-Policy and security headers
(``functions/api/page.py``): only this origin's scripts, styles and requests.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from headlines.file_modules import load_lambda
from headlines.results.dashboard import WEB_DIR, data
from headlines.results.store import Store, StoreError

PREFIX = "/dashboard"
STATIC = {
    "dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "chart.umd.min.js": ("vendor/chart.js/chart.umd.min.js", "text/javascript; charset=utf-8"),
}
LOG = logging.getLogger(__name__)
# While the API serves, the spool (JSON lines) is compacted into Parquet this often, so that a
# long session's records take Parquet's space (about 60 times less) even if nobody reads them.
COMPACT_EVERY_SECONDS = 60.0
Answer = Tuple[int, Dict[str, str], bytes]


def _error(status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


class Dashboard:
    """The dashboard of ``store``; drift against ``model_dir``'s training mix."""

    def __init__(self, store: Store, model_dir: Optional[Path]):
        self.store = store
        self.model_dir = Path(model_dir) if model_dir else None
        self.security_headers: Dict[str, str] = dict(load_lambda("api", "page").SECURITY_HEADERS)

    @staticmethod
    def handles(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def _file(self, relative: str, media_type: str) -> Answer:
        body = (WEB_DIR / relative).read_bytes()
        return 200, {"Content-Type": media_type, "Cache-Control": "no-cache", **self.security_headers}, body

    def answer(self, method: str, path: str) -> Answer:
        if method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", f"{method} is not allowed on {path}; use GET", {"Allow": "GET"})
        if path in (PREFIX, PREFIX + "/"):
            return self._file("dashboard.html", "text/html; charset=utf-8")
        if path == PREFIX + "/data":
            try:
                document = data(self.store, self.model_dir)
            except StoreError as error:
                LOG.warning("the dashboard cannot read the store: %s", error)
                return _error(503, "unavailable", str(error))
            return 200, {"Content-Type": "application/json", "Cache-Control": "no-store", **self.security_headers}, \
                json.dumps(document, default=str).encode()
        name = path[len(PREFIX + "/static/"):] if path.startswith(PREFIX + "/static/") else None
        if name in STATIC:
            return self._file(*STATIC[name])
        return _error(404, "not_found", f"no such resource: {path[:200]}")


def compact_in_background(store: Store, every: float = COMPACT_EVERY_SECONDS) -> Callable[[], None]:
    """Compact ``store`` every ``every`` seconds in a daemon thread; returns what stops it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                store.compact()
            except StoreError as error:  # a full disk: the spool keeps the records for the next try
                LOG.warning("%s", error)

    thread = threading.Thread(target=run, name="results-compaction", daemon=True)
    thread.start()

    def stop_compacting() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_compacting
