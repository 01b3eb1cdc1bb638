"""Local stand-in for API Gateway: HTTP requests -> REST proxy events -> the Lambda handler.

The handler is the unchanged ``functions/api/app.py``, loaded by file path in each of a pool of
handler worker processes (like Lambda's execution environments: one event at a time each,
since Powertools' resolver keeps the current event in class attributes; API Gateway fans out
over many). Its boto3 clients are pointed at the local SageMaker runtime API
(``headlines.local.runtime_api``: ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` for InvokeEndpoint,
``AWS_ENDPOINT_URL_SAGEMAKER`` for the health check's DescribeEndpoint), which forwards to the
container (``headlines.local.endpoint``: AWS's MXNet serving toolkit behind Multi Model
Server), with dummy credentials and a region when none are set, so nothing here can reach AWS.

Like API Gateway, the front turns each request into a REST API proxy event (payload format
1.0: ``resource``, ``path``, ``httpMethod``, ``headers``/``multiValueHeaders``, query
parameters, ``body`` with ``isBase64Encoded``, ``requestContext.requestId``), answers bodies
over 64 KiB with 413 itself, a malformed request with 400, a request not sent within its
deadline with 408, and answers 502 when the handler fails or returns something that is not a
proxy response, 504 when it does not answer within the function's timeout.

The environment variables the handler needs are set only while it is imported (the moment a
Lambda cold start reads them), then the caller's environment is restored, so that starting a
local API inside a test session leaks nothing into other tests.

Entry points: ``serve_local(model_dir, port)`` (blocks; ``headlines serve``) and
``start_local_api(model_dir)`` (in the background, for tests and benchmarks).
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import importlib.util
import itertools
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qsl, unquote

from headlines.local.dashboard import Dashboard, compact_in_background
from headlines.local.endpoint import LocalServeError, ModelServer, start_model_server
from headlines.local.http_server import FastHandler, LocalHTTPServer, start_in_thread
from headlines.local.runtime_api import DEFAULT_ENDPOINT_NAME, RuntimeApiServer
from headlines.local.serving_state import ServingState, remove_state, write_state
from headlines.project import FUNCTIONS_DIR
from headlines.results.store import Store, spool_environment

LOG = logging.getLogger("headlines.local.api_front")

HANDLER_FILE = FUNCTIONS_DIR / "api" / "app.py"
MAX_BODY_BYTES = 64 * 1024
# API Gateway reads payloads up to 10 MB; past that the front just closes the connection.
DRAIN_LIMIT_BYTES = 10 * 1024 * 1024
STAGE = "local"
KNOWN_RESOURCES = ("/v1/classify", "/v1/health")
DEFAULT_PORT = 8080


# The function's timeout (infra/api_function.py) and API Gateway's integration timeout.
FUNCTION_TIMEOUT_SECONDS = 28.0
GATEWAY_TIMEOUT_SECONDS = 29.0
__all__ = ["LocalServeError", "start_local_api", "serve_local"]


# --- loading the handler -----------------------------------------------------------------------
_environ_lock = threading.Lock()
_module_ids = itertools.count(1)


@contextlib.contextmanager
def patched_environ(values: Mapping[str, Optional[str]]) -> Iterator[None]:
    """Set (or, for None, unset) variables for the duration of the block, then restore."""
    with _environ_lock:
        saved = {name: os.environ.get(name) for name in values}
        try:
            _set_environ(values)
            yield
        finally:
            _set_environ(saved)


def _set_environ(values: Mapping[str, Optional[str]]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _model_version(model_dir: Optional[Union[str, Path]]) -> Optional[str]:
    """The artifact's identity, as the pipeline reads it for the deployed function's MODEL_VERSION:
    ``model_version`` in its metrics.json, which train.py writes (the hash of the parameters)."""
    if model_dir is None:
        return None
    try:
        data = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("model_version") if isinstance(data, dict) else None
    return version if isinstance(version, str) and version else None


def handler_environment(endpoint_url: str, endpoint_name: str = DEFAULT_ENDPOINT_NAME,
                        model_version: Optional[str] = None, results: Optional[Store] = None) -> Dict[str, Optional[str]]:
    """What the Lambda's environment holds in AWS, with local endpoints and dummy credentials;
    with ``results``, the handler records every answer into that store's spool."""
    from headlines.config import load_config

    cfg = load_config()
    api = cfg.api
    env: Dict[str, Optional[str]] = {
        "ENDPOINT_NAME": endpoint_name,
        "MAX_HEADLINE_CHARS": str(api.max_headline_chars),
        "MAX_BATCH_SIZE": str(api.max_batch_size),
        "ENDPOINT_TIMEOUT_SECONDS": str(cfg.endpoint_timeout),
        "CORS_ALLOW_ORIGINS": ",".join(api.cors_allow_origins),
        "MODEL_VERSION": model_version or os.environ.get("MODEL_VERSION") or "",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoint_url,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        "POWERTOOLS_SERVICE_NAME": "headlines-api",
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_SESSION_TOKEN=None,
                   AWS_PROFILE=None)
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_REGION"] = "us-east-1"
    if results is not None:
        env.update(spool_environment(results, cfg.results.store_text))
    return env


def load_handler(environment: Mapping[str, Optional[str]], path: Path = HANDLER_FILE) -> ModuleType:
    """Import the Lambda source as a fresh module (a cold start) under ``environment``.

    The function's folder goes on sys.path, as Lambda puts its task root there, so that the
    handler imports the modules next to it by name (they read no environment of their own)."""
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"headlines_api_lambda_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with patched_environ(environment):
        spec.loader.exec_module(module)
    return module


# --- events and the Lambda context ---------------------------------------------------------------
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name = "headlines-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:headlines-api"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/headlines-api"
    log_stream_name = "local"

    def __init__(self, timeout_seconds: float = 29.0):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def build_event(method: str, target: str, headers: List[Tuple[str, str]], body: bytes,
                request_id: str, source_ip: str = "127.0.0.1") -> Dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0)."""
    raw_path, _, query = target.partition("?")
    path = unquote(raw_path) or "/"
    single_headers: Dict[str, str] = {}
    multi_headers: Dict[str, List[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    pairs = parse_qsl(query, keep_blank_values=True)
    single_query = {k: v for k, v in pairs} or None
    multi_values: Dict[str, List[str]] = {}
    for key, value in pairs:
        multi_values.setdefault(key, []).append(value)
    multi_query = multi_values or None
    resource = path if path in KNOWN_RESOURCES else "/{proxy+}"
    text: Optional[str] = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None if resource != "/{proxy+}" else {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": single_headers.get("Host") or single_headers.get("host") or "localhost",
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": single_headers.get("User-Agent")},
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": STAGE,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _error_body(status_code: str, message: str, request_id: str) -> bytes:
    return json.dumps({"error": {"code": status_code, "message": message, "request_id": request_id}},
                      separators=(",", ":")).encode("utf-8")


_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}


# --- the handler workers (Lambda execution environments) ------------------------------------------
_worker_module: Optional[ModuleType] = None


def _start_worker(environment: Mapping[str, Optional[str]], handler_file: str) -> None:
    global _worker_module
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the front's to handle
    _worker_module = load_handler(environment, Path(handler_file))


def _invoke_in_worker(event: Dict[str, Any]) -> Any:
    try:
        assert _worker_module is not None, "the pool's initializer loads the handler"
        return _worker_module.handler(event, LocalLambdaContext(FUNCTION_TIMEOUT_SECONDS))
    except Exception:  # what Lambda reports as a function error; API Gateway answers 502
        LOG.exception("the Lambda handler raised")
        return None


def _warm(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


class HandlerPool:
    """``size`` processes, each with the handler loaded, each running one event at a time.
    A pool whose process died is replaced by a fresh one (a new cold start)."""

    def __init__(self, environment: Mapping[str, Optional[str]], size: int, handler_file: Path = HANDLER_FILE):
        self.size = max(1, size)
        self._environment = dict(environment)
        self._handler_file = str(handler_file)
        self._lock = threading.Lock()
        self._executor = self._new_executor()
        # Start every process now: cold starts stay off the first requests.
        list(concurrent.futures.wait([self._executor.submit(_warm, 0.3) for _ in range(self.size)])[0])

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._environment, self._handler_file))

    def invoke(self, event: Dict[str, Any], timeout: float = GATEWAY_TIMEOUT_SECONDS) -> Any:
        """The handler's result; None when it failed; TimeoutError past ``timeout``."""
        executor = self._executor
        try:
            return executor.submit(_invoke_in_worker, event).result(timeout=timeout)
        except BrokenProcessPool:
            LOG.error("a handler worker process died; starting a fresh pool")
            with self._lock:
                if self._executor is executor:
                    self._executor = self._new_executor()
            executor.shutdown(wait=False, cancel_futures=True)
            return None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


# --- the HTTP front ---------------------------------------------------------------------------------
class FrontHandler(FastHandler):
    server: "ApiFrontServer"
    max_body_bytes = MAX_BODY_BYTES
    drain_limit_bytes = DRAIN_LIMIT_BYTES
    server_version = "headlines-local-api"

    _rid: Optional[str] = None  # this request's id, made on first use

    def _request_id(self) -> str:
        if self._rid is None:
            self._rid = str(uuid.uuid4())
        return self._rid

    def handle_one_request(self) -> None:
        self._rid = None
        super().handle_one_request()

    def send_api_error(self, status: int, code: str, message: str, close: bool = False,
                       headers: Optional[Dict[str, str]] = None) -> None:
        rid = self._request_id()
        self.send(status, _error_body(code, message, rid), "application/json",
                  {"X-Request-Id": rid, "x-amzn-RequestId": rid, **(headers or {})}, close=close)

    # The standard library's own errors (bad request line, headers too large, unknown method).
    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        if self._timed_out:
            self.send_timeout()
        elif code == 501:
            self.send_api_error(405, "method_not_allowed", f"method {self.command!r} is not supported", close=True)
        else:
            self.send_api_error(code if 400 <= code < 500 else 400, "bad_request",
                                message or "malformed HTTP request", close=True)

    def send_error_body(self, status: int, message: str, close: bool = False) -> None:
        # 400 (malformed framing) and 408 (request not received in time), in the contract's codes.
        self.send_api_error(status, "timeout" if status == 408 else "bad_request", message, close=close)

    def send_too_large(self) -> None:
        self.drain_body()
        self.send_api_error(413, "payload_too_large", f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB",
                            close=True)

    def _proxy(self) -> None:
        body = self.read_body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        if self.server.dashboard is not None and self.server.dashboard.handles(path):
            status, headers, payload = self.server.dashboard.answer(self.command, path)
            self.send(status, b"" if self.command == "HEAD" else payload, None, headers)
            return
        rid = self._request_id()
        event = build_event(self.command, self.path, list(self.headers.items()), body, rid,
                            self.client_address[0])
        try:
            result = self.server.pool.invoke(event)
        except concurrent.futures.TimeoutError:
            # What API Gateway answers when the integration times out.
            self.send_api_error(504, "timeout", f"the API handler did not answer within {GATEWAY_TIMEOUT_SECONDS:g} s")
            return
        status, headers, payload = self._translate(result, rid)
        self.send(status, payload, None, headers)

    def _translate(self, result: Any, rid: str) -> Tuple[int, Dict[str, str], bytes]:
        try:
            status = int(result["statusCode"])
            if not 100 <= status <= 599:
                raise ValueError(status)
            headers: Dict[str, str] = {}
            for name, value in (result.get("headers") or {}).items():
                headers[str(name)] = str(value)
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers[str(name)] = ", ".join(str(v) for v in values)
            body = result.get("body") or ""
            payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        except Exception:  # noqa: BLE001 - any malformed proxy response gets what API Gateway answers: 502
            LOG.error("the handler returned a malformed proxy response: %.300r", result)
            return 502, {"Content-Type": "application/json", "X-Request-Id": rid}, _error_body(
                "internal_error", "the API handler failed; quote the request id when reporting it", rid)
        headers = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.setdefault("X-Request-Id", rid)
        headers["x-amzn-RequestId"] = rid
        return status, headers, payload

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _proxy

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, custom verbs) also goes to the handler, which answers 405
        # with Allow on a known path and 404 elsewhere.
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._proxy
        raise AttributeError(name)


class ApiFrontServer(LocalHTTPServer):
    pool: HandlerPool  # set once bound (a port in use fails before any process starts)
    dashboard: Optional[Dashboard] = None  # GET /dashboard, where answers are recorded

    def __init__(self, address: Tuple[str, int], listen: bool = True):
        # listen=False: the port is taken (bound) but connections are refused until
        # server_activate(), so that callers retry rather than wait in the backlog while the
        # model server starts.
        super().__init__(address, FrontHandler, bind_and_activate=False)
        try:
            self.server_bind()
            if listen:
                self.server_activate()
        except BaseException:
            self.server_close()
            raise


def _bind(factory: Callable[[], Any], host: str, port: int) -> Any:
    try:
        return factory()
    except OverflowError:
        raise LocalServeError(f"port {port} is out of range (1-65535)") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = f" (another process uses it: try --port {port + 1})" if exc.errno == 98 else ""
        raise LocalServeError(f"cannot listen on {host}:{port}: {reason}{hint}") from None


def make_api_front(endpoint_url: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                   endpoint_name: str = DEFAULT_ENDPOINT_NAME, model_dir: Optional[Union[str, Path]] = None,
                   handler_file: Path = HANDLER_FILE, handler_workers: int = 1,
                   results: Optional[Store] = None) -> ApiFrontServer:
    """Bind the front (``port=0``: a free port) with ``handler_workers`` handler processes
    pointed at ``endpoint_url``."""
    check_port(port)
    server = _bind(lambda: ApiFrontServer((host, port)), host, port)
    try:
        add_handler_pool(server, endpoint_url, endpoint_name, model_dir, handler_file, handler_workers, results)
    except BaseException:
        server.server_close()
        raise
    return server


def add_handler_pool(server: ApiFrontServer, endpoint_url: str, endpoint_name: str,
                     model_dir: Optional[Union[str, Path]], handler_file: Path, handler_workers: int,
                     results: Optional[Store] = None) -> None:
    environment = handler_environment(endpoint_url, endpoint_name, _model_version(model_dir), results)
    server.pool = HandlerPool(environment, handler_workers, handler_file)


def check_port(port: int) -> None:
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise LocalServeError(f"port {port} is out of range (1-65535)")


# --- entry points ----------------------------------------------------------------------------------
@dataclass
class LocalApi:
    """A running local API: its base URL, the local SageMaker API's URL, the container, and
    how to stop them all."""

    url: str
    endpoint_url: str
    model_server: ModelServer = field(repr=False)
    front: ApiFrontServer = field(repr=False)
    stop: Callable[[], None] = field(repr=False)

    def __enter__(self) -> "LocalApi":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_local_api(model_dir: Union[str, Path], port: int = 0, host: str = "127.0.0.1",
                    endpoint_name: str = DEFAULT_ENDPOINT_NAME, workers: Optional[int] = None,
                    handler_workers: Optional[int] = None, results: Optional[Store] = None) -> LocalApi:
    """Start the container (``workers`` model workers, default one per CPU), the local
    SageMaker API and the API front (``handler_workers`` handler processes, default as many
    as model workers) in the background; with ``results``, every answer is recorded there."""
    check_port(port)
    stops: List[Callable[[], None]] = []
    try:
        # The front's port first: a port in use fails before anything starts.
        front = _bind(lambda: ApiFrontServer((host, port), listen=False), host, port)
        stops.append(front.server_close)
        model_server = start_model_server(model_dir, workers=workers)
        stops.append(model_server.stop)
        runtime = _bind(lambda: RuntimeApiServer((host, 0), model_server.host, model_server.port, endpoint_name),
                        host, 0)
        stops.append(start_in_thread(runtime))
        endpoint_url = f"http://{host}:{runtime.port}"
        add_handler_pool(front, endpoint_url, endpoint_name, model_dir, HANDLER_FILE,
                         handler_workers or model_server.workers, results)
        if results is not None:
            front.dashboard = Dashboard(results, Path(model_dir))
            stops.append(compact_in_background(results))
        stops.append(front.pool.close)
        front.server_activate()
        stops.append(start_in_thread(front))
    except BaseException:
        for stop in reversed(stops):
            stop()
        raise

    def stop_all() -> None:
        while stops:
            with contextlib.suppress(Exception):
                stops.pop()()

    return LocalApi(url=f"http://{host}:{front.port}", endpoint_url=endpoint_url, model_server=model_server,
                    front=front, stop=stop_all)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve_local(model_dir: Union[str, Path], port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                workers: Optional[int] = None, results: Optional[Store] = None, state_file: Optional[Path] = None) -> None:
    """``headlines serve``: the container, the local SageMaker API and the API front on
    ``host:port``; blocks until interrupted (Ctrl-C or SIGTERM), then stops everything,
    Multi Model Server's Java frontend included. ``state_file``: where other local commands
    (``headlines feed``) find the running endpoint (headlines/local/serving_state.py)."""
    check_port(port)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    api: Optional[LocalApi] = None
    try:
        print("starting the SageMaker MXNet serving toolkit behind Multi Model Server ...", flush=True)
        api = start_local_api(model_dir, port=port, host=host, workers=workers, results=results)
        server = api.model_server
        print(f"model server (the SageMaker container): {server.url}  [GET /ping, POST /invocations]  "
              f"{server.workers} workers, log {server.log_path}", flush=True)
        print(f"REST API: {api.url}  [POST /v1/classify, GET /v1/health]  (Ctrl-C stops)", flush=True)
        if results is not None:
            print(f"dashboard: {api.url}/dashboard", flush=True)
        print(f"  try: curl -s -XPOST {api.url}/v1/classify "
              """-H 'Content-Type: application/json' -d '{"headline":"Fed raises interest rates again"}'""",
              flush=True)
        if results is not None:
            print(f"results: every answer is recorded in {results.root}  (headlines results summary)", flush=True)
        if state_file is not None:
            write_state(state_file, ServingState(api.url, api.endpoint_url, DEFAULT_ENDPOINT_NAME,
                                                 _model_version(model_dir), os.getpid()))
        while True:
            time.sleep(0.5)
            if not server.running():
                raise LocalServeError("the model server stopped unexpectedly (its log: "
                                      f"{server.log_path})")
    except KeyboardInterrupt:
        pass
    finally:
        if state_file is not None:
            remove_state(state_file)
        if api is not None:
            api.stop()
        signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the REST API locally (container + local SageMaker API + front).")
    parser.add_argument("--model", required=True, help="extracted model artifact directory")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=None, help="model workers (default: one per CPU)")
    parser.add_argument("--results", metavar="DIR", help="record every answer in the live results store at DIR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve_local(args.model, args.port, args.host, args.workers,
                    results=Store(Path(args.results)) if args.results else None)
    except LocalServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
