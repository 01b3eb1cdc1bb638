"""``headlines feed URL_OR_FILE... [--every SECONDS]``: classify and record the new items of
RSS / Atom feeds through the running local API's endpoint (headlines/local/feeds.py).

One line per feed and run; a feed that fails is its line (``feed X: error: ...``) and the
others go on; the exit status is 1 when a feed failed in the last run. ``--every`` repeats
until Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from headlines.errors import UserError


def register(commands: Any) -> None:
    feed = commands.add_parser("feed", help="classify and record the new items of RSS / Atom feeds (URLs or files)")
    feed.add_argument("sources", nargs="+", metavar="URL_OR_FILE")
    feed.add_argument("--every", type=float, metavar="SECONDS", help="read the feeds again every SECONDS (until Ctrl-C)")
    feed.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    feed.set_defaults(run=cmd_feed, needs_console=False)


def cmd_feed(args: argparse.Namespace, console: Any) -> int:
    from headlines.local.feeds import LocalFeedReader

    if args.every is not None and args.every <= 0:
        raise UserError("--every must be a positive number of seconds")
    reader = LocalFeedReader(Path(args.workdir))
    while True:
        outcomes = reader.run(args.sources)
        for outcome in outcomes:
            print(outcome.line(), file=sys.stderr if outcome.error else sys.stdout, flush=True)
        if args.every is None:
            return 1 if any(outcome.error for outcome in outcomes) else 0
        time.sleep(args.every)
