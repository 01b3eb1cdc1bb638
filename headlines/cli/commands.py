"""``headlines``: the project's command line (local pipeline, local API, deployed pipeline, preflight).

Every failure ends with one ``error: ...`` line and a non-zero exit, never a traceback
(``--debug`` or ``HEADLINES_DEBUG=1`` shows it); ``headlines.errors`` words the line. Heavy
libraries (gensim, MXNet, rich) are imported by the commands that use them, not here, so
``headlines --help`` and ``headlines classify`` start fast.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from headlines import errors

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_API_URL = "http://127.0.0.1:8080"
EXIT_USAGE = errors.EXIT_USAGE


def _hyperparameter(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name, value


def _common_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH_OR_URL",
                        help="News Aggregator file (CSV or zip, either format); default: the public UCI zip")
    parser.add_argument("--test-data", metavar="PATH", help="score on this file instead of held-out stories")
    parser.add_argument("--corpus", metavar="PATH_OR_URL", help="text8-style corpus for the word vectors; default: text8")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where data, vectors and models go (default: ./.headlines, or $HEADLINES_WORKDIR)")
    parser.add_argument("-H", "--hyperparameter", dest="hyperparameters", type=_hyperparameter, action="append",
                        default=[], metavar="NAME=VALUE",
                        help="override a classifier hyperparameter (repeatable; names and types as in "
                             "training/hyperparameters.py); -H epochs=N also sets linear_epochs=N unless "
                             "-H linear_epochs is given")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headlines", description="News-headline classification, locally and on AWS.")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of a failure (also: {errors.DEBUG_ENV}=1; accepted after the command too)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="run the pipeline locally: ingest, embeddings, classifier")
    _common_train_arguments(train)
    train.set_defaults(run=cmd_train)

    serve = commands.add_parser("serve", help="serve a model: SageMaker serving toolkit + REST API")
    serve.add_argument("--model", type=Path, help="model.tar.gz or its unpacked folder; default: the workdir's model")
    serve.add_argument("--workdir", type=Path, default=None)
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(run=cmd_serve)

    up = commands.add_parser("up", help="train (unless a model exists), then serve")
    _common_train_arguments(up)
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--retrain", action="store_true", help="train even if the workdir has a model")
    up.set_defaults(run=cmd_up)

    classify = commands.add_parser("classify", help="classify headlines with the REST API (local or deployed), "
                                                    "or a whole file through the local model container (--input)")
    classify.add_argument("headlines", nargs="*", metavar="TEXT")
    classify.add_argument("--url", default=DEFAULT_API_URL, help=f"API base URL (default {DEFAULT_API_URL})")
    classify.add_argument("--api-key", help="the x-api-key, when the deployed API requires one")
    classify.add_argument("--json", action="store_true", help="print the API's JSON answer")
    classify.set_defaults(run=cmd_classify, needs_console=False)
    from headlines.cli import bulk as bulk_cli

    bulk_cli.add_arguments(classify)

    evaluate = commands.add_parser("evaluate", help="score a model on a News Aggregator file (either format)")
    evaluate.add_argument("--model", type=Path, metavar="PATH", help="model.tar.gz or its unpacked folder; default: the workdir's model")
    evaluate.add_argument("--data", type=Path, required=True, metavar="FILE", help="News Aggregator file: CSV (either format), zip or .gz")
    evaluate.add_argument("--json", type=Path, metavar="OUT", help="also write the scores as JSON to this file")
    evaluate.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    evaluate.set_defaults(run=cmd_evaluate)

    report = commands.add_parser("report", help="an HTML report with figures about a model")
    report.add_argument("--model", type=Path, metavar="PATH", help="model.tar.gz or its unpacked folder; default: the workdir's model")
    report.add_argument("--out", type=Path, metavar="DIR", help="folder for index.html and the figures; default: <workdir>/report")
    report.add_argument("--data", type=Path, metavar="FILE", help="file to find the most confident errors in (the training file: "
                                                  "its held-out test stories); default: the workdir's news data")
    report.add_argument("--vectors", type=Path, metavar="FILE",
                        help="word vectors: BlazingText's model.tar.gz or a vectors.txt; default: the workdir's newest")
    report.add_argument("--workdir", type=Path, default=None, metavar="DIR")
    report.set_defaults(run=cmd_report)

    try:
        from headlines.cli import pipeline as pipeline_cli
    except ImportError:
        return parser
    pipeline_cli.register(commands)
    from headlines.cli import feed as feed_cli
    from headlines.cli import model as model_cli
    from headlines.cli import preflight as preflight_cli
    from headlines.cli import results as results_cli

    model_cli.register(commands)

    preflight_cli.register(commands)
    results_cli.register(commands)
    feed_cli.register(commands)
    from headlines.cli import batch as batch_cli

    batch_cli.register(commands)
    return parser


def _train(args: argparse.Namespace, console: Console):
    from headlines.config import load_config
    from headlines.local.pipeline import train

    result = train(load_config(), workdir=args.workdir, data=args.data, test_data=args.test_data,
                   corpus=args.corpus, overrides=dict(args.hyperparameters), console=console)
    from headlines.registry import APPROVED, REJECTED, GateRefused

    metrics, record = result.metrics, result.record
    console.print(f"[bold green]model:[/] {result.artifact}")
    console.print(f"test accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
                  f"({metrics['data']['test']:,} headlines, {metrics['data']['test_source']})")
    console.print(f"metrics: {result.model_dir / 'metrics.json'}")
    console.print(f"gate: {result.gate.summary()}", highlight=False)
    if record.status == REJECTED:
        raise GateRefused(f"model {record.version} refused and registered as Rejected: {result.gate.reason_refused()} "
                          f"({result.gate.summary()}); the approved model still serves")
    if record.status == APPROVED:
        console.print(f"registry: model {record.version} approved; headlines serve serves it")
    else:
        console.print(f"registry: model {record.version} is {record.status}: headlines model approve {record.version}")
    return result


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    _train(args, console)
    return 0


def _unpacked(model: Path, workdir: Path) -> Path:
    """A model folder. A ``model.tar.gz`` is extracted under ``<workdir>/serving/`` into a
    folder named by its content hash: safely (``filter="data"``: no member outside the folder,
    no links out, no devices) into a temporary folder first, renamed when complete, so that a
    corrupt or truncated archive leaves nothing behind."""
    import hashlib
    import shutil
    import tarfile
    import tempfile
    import zlib

    from headlines.local.api_front import LocalServeError

    if model.is_dir():
        return model
    if not model.is_file():
        raise FileNotFoundError(f"{model}: no such model")
    digest = hashlib.sha256()
    with open(model, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    serving = workdir / "serving"
    target = serving / f"{model.name.removesuffix('.tar.gz')}-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    serving.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=serving))
    try:
        with tarfile.open(model) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(target)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        if target.is_dir():  # another `headlines serve` extracted the same archive meanwhile
            return target
        if isinstance(error, tarfile.ReadError) and "could not be opened" in str(error):
            reason = "not a gzip-compressed tar archive"
        else:
            reason = (str(error).splitlines() or [type(error).__name__])[0].rstrip(":")
        raise LocalServeError(f"{model}: not a usable model archive: {reason}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _served_model(model: Optional[Path], workdir: Optional[Path]) -> Path:
    """The model folder ``headlines serve`` serves (and ``classify --input`` scores with)."""
    from headlines.local.pipeline import DEFAULT_WORKDIR, current_model

    workdir = workdir or DEFAULT_WORKDIR
    found = model or current_model(workdir)
    if found is None:
        raise FileNotFoundError(f"no model in {workdir}: run `headlines train` first, or pass --model")
    return _unpacked(Path(found), Path(workdir))


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from headlines.local.api_front import check_port, serve_local
    from headlines.local.pipeline import DEFAULT_WORKDIR
    from headlines.local.serving_state import STATE_FILE
    from headlines.results.store import default_store

    check_port(args.port)
    workdir = args.workdir or DEFAULT_WORKDIR
    serve_local(_served_model(args.model, workdir), port=args.port, results=default_store(Path(workdir)),
                state_file=Path(workdir) / STATE_FILE)
    return 0


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    from headlines.local.api_front import check_port, serve_local
    from headlines.local.endpoint import check_serving_prerequisites
    from headlines.local.pipeline import current_model
    from headlines.local.serving_state import STATE_FILE
    from headlines.results.store import default_store

    check_port(args.port)
    check_serving_prerequisites()  # before minutes of training, not after
    model = None if args.retrain else current_model(args.workdir)
    if model is not None:
        console.print(f"using the model in {model} (--retrain trains a new one)")
    else:
        _train(args, console)
        model = current_model(args.workdir)  # the approved model (a pending one does not serve)
        if model is None:
            raise FileNotFoundError(f"no approved model in {args.workdir}: headlines model approve VERSION")
    serve_local(model, port=args.port, results=default_store(Path(args.workdir)), state_file=Path(args.workdir) / STATE_FILE)
    return 0


def _model_or_current(model: Optional[Path], workdir: Path) -> Path:
    from headlines.local.pipeline import current_model

    model = model or current_model(workdir)
    if model is None:
        raise FileNotFoundError(f"no model in {workdir}: run `headlines train` first, or pass --model")
    return Path(model)


def _news_file(location: Path, workdir: Path, console: Console) -> Path:
    """A --data file read as ``train --data`` reads it (a .gz or zip unpacked in the workdir)."""
    from headlines.config import load_config
    from headlines.local.sources import resolve_news

    return resolve_news(str(location), workdir, load_config(), console).path


def cmd_evaluate(args: argparse.Namespace, console: Console) -> int:
    from headlines.analysis import evaluate
    from headlines.local.pipeline import DEFAULT_WORKDIR

    workdir = Path(args.workdir or DEFAULT_WORKDIR)
    result = evaluate.evaluate(_model_or_current(args.model, workdir), _news_file(args.data, workdir, console))
    print(evaluate.format_result(result))
    if args.json:
        evaluate.write_json(result, args.json)
        console.print(f"scores: {args.json}")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from headlines.analysis import report
    from headlines.config import load_config
    from headlines.local.pipeline import DEFAULT_WORKDIR

    workdir = Path(args.workdir or DEFAULT_WORKDIR)
    model = _model_or_current(args.model, workdir)
    data = _news_file(args.data, workdir, console) if args.data else report.default_news(workdir, load_config().data.news_url)
    index = report.write_report(model, args.out or workdir / "report", data,
                                args.vectors or report.latest_vectors(workdir), explicit_data=args.data is not None)
    console.print(f"report: {index}")
    return 0


def _post_json(url: str, payload: Dict[str, Any], api_key: Optional[str]) -> Dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=35) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = error.reason
        raise ConnectionError(f"the API answered {error.code}: {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(f"cannot reach {url}: {getattr(error, 'reason', error)} (is `headlines serve` running?)") from error


def cmd_classify(args: argparse.Namespace, console: Console) -> int:
    texts: List[str] = args.headlines
    if args.input is not None or args.output is not None:
        return _classify_file(args, texts)
    if not texts:
        raise errors.UserError("give headlines to classify (TEXT ...), or a file: --input FILE --output FILE")
    payload = {"headline": texts[0]} if len(texts) == 1 else {"headlines": texts}
    answer = _post_json(args.url.rstrip("/") + "/v1/classify", payload, args.api_key)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    predictions = answer.get("predictions", [answer])
    for text, prediction in zip(texts, predictions):
        print(f"{prediction['category']:<20} {prediction['confidence']:.2f}  {text}")
    return 0


def _classify_file(args: argparse.Namespace, texts: List[str]) -> int:
    from headlines.cli import bulk as bulk_cli
    from headlines.config import load_config

    if texts:
        raise errors.UserError("give either headlines (TEXT ...) or --input FILE, not both")
    if args.input is None or args.output is None:
        raise errors.UserError("--input FILE and --output FILE go together")
    from headlines.local.pipeline import DEFAULT_WORKDIR

    bulk_cli.check_paths(args.input, args.output)
    workdir = Path(args.bulk_workdir or DEFAULT_WORKDIR)
    return bulk_cli.run(args, _console(), _served_model(args.model, workdir), workdir, load_config().api.max_headline_chars)


def _console() -> "Console":
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _debug_flag(argv: List[str]) -> tuple:
    """``--debug`` anywhere before a ``--`` (not only before the command), and the rest."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = "--debug" in argv[:end]
    return found, [item for index, item in enumerate(argv) if index >= end or item != "--debug"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    import traceback

    debug, rest = _debug_flag(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(rest)
    debug = errors.debug_requested(debug or args.debug)
    if "workdir" in vars(args) and args.workdir is None:
        from headlines.workdir import DEFAULT_WORKDIR

        args.workdir = DEFAULT_WORKDIR
    try:
        console = _console() if getattr(args, "needs_console", True) else None
        return args.run(args, console)
    except SystemExit:
        raise  # argparse and pipeline_cli word their own exits
    except BaseException as error:  # noqa: BLE001 - every failure becomes one line (errors.describe)
        report = errors.describe(error, workdir=getattr(args, "workdir", None))
        if debug:
            traceback.print_exc()
        print(f"error: {report.message}" if report.exit_status != errors.EXIT_INTERRUPTED else report.message,
              file=sys.stderr)
        return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
