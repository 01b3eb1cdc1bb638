"""``headlines classify --input FILE --output FILE``: bulk scoring through the local container.

Bad rows are skipped and reported (``warning: FILE:LINE: reason``, the first ``SHOWN_BAD_ROWS``
of them, then a count); the exit status is 0 when every usable row was scored. Input that
cannot be scored at all (missing, empty, binary, no known format, no usable row) is one
``error:`` line and a non-zero exit, and then no output file. The output is written under a
temporary name and renamed when complete: an error or Ctrl-C leaves nothing under its name.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional

from headlines.bulk_input import FORMATS, BadRow, HeadlineReader, InputError, Options
from headlines.bulk_output import OUTPUT_FORMATS, AnswerWriter, output_format

if TYPE_CHECKING:
    from rich.console import Console

SHOWN_BAD_ROWS = 20

#: Called with each batch of answers (lines, headlines, predictions, model version, the batch's
#: round trip in ms) once written.
AnswerHook = Callable[[List[int], List[str], List[Any], str, float], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bulk scoring (through the local model container)")
    group.add_argument("--input", type=Path, metavar="FILE",
                       help=f"score every headline of FILE ({', '.join(FORMATS)}; .gz too) instead of TEXT")
    group.add_argument("--output", type=Path, metavar="FILE", help="where the answers go (.csv or .jsonl), in input order")
    group.add_argument("--format", choices=FORMATS, help="the input's format (default: detected)")
    group.add_argument("--column", help="csv: the headline column (default: headline, title or text)")
    group.add_argument("--field", default="headline", help="jsonl: the headline field (default: headline)")
    group.add_argument("--output-format", choices=OUTPUT_FORMATS, help="default: from the output's extension")
    group.add_argument("--model", type=Path, metavar="PATH",
                       help="model.tar.gz or its folder; default: the model `headlines serve` serves")
    group.add_argument("--workdir", dest="bulk_workdir", type=Path, default=None, metavar="DIR",
                       help="where the default model is (default: ./.headlines, or $HEADLINES_WORKDIR)")
    group.add_argument("--workers", type=int, metavar="N", help="model server workers (default: one per CPU)")
    group.add_argument("--no-record", action="store_true",
                       help="do not record the answers as live results (default: recorded with source=batch in the "
                            "workdir's results store, as `headlines serve` records the API's)")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """``kill`` cleans up as Ctrl-C does: no temporary file left, the container stopped."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_paths(source: Path, target: Path) -> None:
    if not source.is_file():
        raise InputError(f"{source}: no such file" if not source.exists() else f"{source}: not a file")
    if target.exists() and target.resolve() == source.resolve():
        raise InputError(f"{target}: the output would overwrite the input: pick another name")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such folder for the output")


class _Recording:
    """Records each batch of answers as live results with ``source=batch`` (issue #26), through the
    API's own recorder and sink (functions/api/results_recorder.py) into the workdir's results
    store, as ``headlines serve`` records the API's answers; a record it cannot keep is counted."""

    def __init__(self, workdir: Path):
        from uuid import uuid4

        from headlines.config import load_config
        from headlines.file_modules import load_lambda
        from headlines.results.store import default_store, spool_environment

        self.store = default_store(workdir)
        environment = spool_environment(self.store, load_config().results.store_text)
        recorder_module = load_lambda("api", "results_recorder")
        self.recorder = recorder_module.from_environ({name: value for name, value in environment.items() if value is not None},
                                                     source="batch")
        self.run_id = uuid4().hex[:12]
        self.recorded = 0

    def __call__(self, lines: List[int], texts: List[str], predictions: List[Any], model_version: str,
                 latency_ms: float) -> None:
        self.recorder.record(texts, predictions, request_id=f"batch-{self.run_id}-{lines[0]}",
                             model_version=model_version, latency_ms=latency_ms)
        self.recorded += len(texts)

    def close(self) -> str:
        self.recorder.sink.close()
        dropped = self.recorder.sink.dropped
        kept = f"recorded {self.recorded - dropped:,} answers as live results (source=batch) in {self.store.root}"
        return kept + (f"; {dropped:,} could not be recorded (see the warnings above)" if dropped else "")


class _Progress:
    """A progress bar over the input's bytes, on a terminal only (rich turns itself off otherwise)."""

    def __init__(self, console: "Console", reader: HeadlineReader):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.reader = reader
        self.scored = 0
        self.bar = Progress(TextColumn("scoring"), BarColumn(), TextColumn("{task.fields[scored]:,} headlines"),
                            TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                            disable=not console.is_terminal, transient=True)
        self.task = self.bar.add_task("scoring", total=reader.size or None, scored=0)

    def __enter__(self) -> "_Progress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def advance(self, count: int) -> None:
        self.scored += count
        self.bar.update(self.task, completed=self.reader.position(), scored=self.scored)


def run(args: argparse.Namespace, console: "Console", model_dir: Path, workdir: Path, max_chars: Optional[int]) -> int:
    from headlines.artifacts import atomic_file
    from headlines.local import bulk
    from headlines.local.endpoint import start_model_server
    from headlines.transform import LOCAL_BATCH_SIZE, container_environment

    source, target = Path(args.input), Path(args.output)
    check_paths(source, target)
    kind = output_format(target, args.output_format)
    shown: List[BadRow] = []

    def report_bad(row: BadRow) -> None:
        if len(shown) < SHOWN_BAD_ROWS:
            shown.append(row)
            console.print(f"warning: {source}:{row.line}: {row.reason} (row skipped)", markup=False, highlight=False)

    options = Options(format=args.format, column=args.column, field=args.field, max_chars=max_chars)
    hooks: List[AnswerHook] = []
    with _sigterm_as_interrupt(), HeadlineReader(source, options) as reader:
        recording = None if args.no_record else _Recording(workdir)
        if recording is not None:
            hooks.append(recording)
        server = start_model_server(model_dir, workers=args.workers,
                                    environment=container_environment(LOCAL_BATCH_SIZE))
        try:
            scorer = bulk.BatchScorer(server)
            with atomic_file(target) as handle, _Progress(console, reader) as progress:
                writer = AnswerWriter(handle, kind, "")

                def write(lines: List[int], texts: List[str], predictions: List[Any], latency_ms: float) -> None:
                    writer.model_version = scorer.model_version
                    writer.write(lines, texts, predictions)
                    for hook in hooks:
                        hook(lines, texts, predictions, scorer.model_version, latency_ms)

                summary = bulk.score(reader, scorer, write, in_flight=2 * server.workers, on_bad=report_bad,
                                     on_scored=progress.advance)
                if summary.scored == 0:
                    first = f":{shown[0].line}: {shown[0].reason}" if shown else ": no rows"
                    raise InputError(f"{source}{first}: no headline could be scored ({summary.bad:,} bad rows, read as "
                                     f"{reader.format}; --format names another): nothing written")
        finally:
            server.stop()
            recorded = recording.close() if recording is not None else None
    summary.model_version = scorer.model_version
    more = f" ({summary.bad - len(shown):,} more not shown)" if summary.bad > len(shown) else ""
    skipped = f", {summary.bad:,} bad rows skipped{more}" if summary.bad else ""
    console.print(f"scored {summary.scored:,} headlines ({reader.format}) with model {summary.model_version} in "
                  f"{summary.seconds:.1f} s{skipped}: {target}", markup=False, highlight=False)
    if recorded:
        console.print(recorded, markup=False, highlight=False)
    return 0
