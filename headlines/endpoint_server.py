"""Local stand-in for the SageMaker endpoint: the serving-container contract on loopback.

It loads ``code/inference.py`` from an extracted model artifact (``code/`` goes on
``sys.path`` so the module's own imports, e.g. the shared text module, resolve), calls
``model_fn(model_dir)`` once and answers:

- ``GET /ping`` -> 200 when the model is loaded (the container health check);
- ``POST /invocations`` -> ``input_fn`` -> ``predict_fn`` -> ``output_fn`` (the container
  contract): an exception with a 4xx ``status_code`` attribute is answered with that status
  and its message, any other exception with 500 and a fixed message (never a traceback);
- ``POST /endpoints/{name}/invocations`` -> the same, wrapped like the SageMaker Runtime
  ``InvokeEndpoint`` API, so that a boto3 ``sagemaker-runtime`` client pointed here with
  ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` works unchanged: a model error becomes a 424
  ``ModelError`` carrying ``OriginalStatusCode``/``OriginalMessage``, an unknown endpoint
  name a 400 ``ValidationError`` (the real service's shapes);
- ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint`` -> the control-plane call
  the API's health check makes (a boto3 ``sagemaker`` client pointed here with
  ``AWS_ENDPOINT_URL_SAGEMAKER``): ``InService`` while the model is loaded.

The server is the standard library's threading HTTP server with HTTP/1.1 keep-alive and
``TCP_NODELAY``: its per-request cost (~0.1 ms) is well below the model's, and it needs
nothing else. Model calls are serialised with a lock (MXNet's Python front end is not
thread-safe). As a process (``python -m headlines.endpoint_server``, which ``headlines serve``
starts), it runs like the SageMaker model server:

- one worker process per CPU (``--workers``, ``SAGEMAKER_MODEL_SERVER_WORKERS``), each with
  the model loaded, one OpenMP thread and MXNet's synchronous engine, accepting from one
  shared socket and spreading keep-alive connections evenly;
- opportunistic batching, opt-in (``--batching`` or ``HEADLINES_ENDPOINT_BATCHING=1``):
  concurrent requests that queue while the model is busy share one forward pass. It cuts
  tail latency when the CPUs are contended, but a headline's scores may then differ in the
  last rounded digit (1e-6) with the requests it shared a pass with, so it is off by default:
  the same headline always gets the same answer (see ModelService).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import mmap
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Tuple, Union

from headlines.file_modules import load_file_module

LOG = logging.getLogger("headlines.endpoint_server")

DEFAULT_ENDPOINT_NAME = "headlines-local"
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
# SageMaker's own limit on an InvokeEndpoint payload.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


class ModelInvocationError(Exception):
    """What the container answers for one invocation that failed: status and message."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def load_inference_module(model_dir: Union[str, Path]) -> ModuleType:
    """Import ``<model_dir>/code/inference.py`` under a name unique to that folder."""
    code_dir = Path(model_dir).resolve() / "code"
    entry = code_dir / "inference.py"
    if not entry.is_file():
        raise FileNotFoundError(f"{entry} not found: is {model_dir} an extracted model artifact?")
    name = "headlines_inference_" + hashlib.sha1(str(code_dir).encode()).hexdigest()[:12]
    return sys.modules.get(name) or load_file_module(name, entry)


def _default_input_fn(body: bytes, content_type: str) -> Any:
    return json.loads(body)


def _default_output_fn(prediction: Any, accept: str) -> bytes:
    return json.dumps(prediction).encode("utf-8")


class ModelService:
    """The model loaded once, and the container's handler chain around it.

    With ``batching`` (opt-in), ``predict_fn`` calls of concurrent requests are merged: when
    ``input_fn`` returns a list (of headlines) and ``predict_fn`` answers a dict whose
    ``predictions`` list matches it, the requests that queued while the model was busy go
    through one forward pass and each gets its slice back. No request waits for others to
    arrive (a batch is whatever is queued), so a lone request costs one thread hand-off more;
    under concurrency it saves most of the per-call cost of the network. The price: a
    headline's scores may then differ in the last rounded digit (1e-6) with the batch it
    happened to share, as they already do between a single and a batch request. A batch that
    fails is re-run request by request, so one bad request never fails another.
    """

    def __init__(self, model_dir: Union[str, Path], batching: bool = False, max_batch_items: int = 256):
        self.model_dir = Path(model_dir).resolve()
        self.module = load_inference_module(self.model_dir)
        started = time.perf_counter()
        self.model = self.module.model_fn(str(self.model_dir))
        self.load_seconds = time.perf_counter() - started
        self._transform_fn: Optional[Callable] = getattr(self.module, "transform_fn", None)
        self._input_fn = getattr(self.module, "input_fn", _default_input_fn)
        self._predict_fn = getattr(self.module, "predict_fn", None)
        self._output_fn = getattr(self.module, "output_fn", _default_output_fn)
        if self._transform_fn is None and self._predict_fn is None:
            raise AttributeError(f"{self.module.__file__} defines neither predict_fn nor transform_fn")
        self._lock = threading.Lock()
        self.batching = batching and self._transform_fn is None
        self.max_batch_items = max_batch_items
        self._queue: list = []
        self._queue_ready = threading.Condition()
        self.batches = 0  # forward passes run by the batcher (for tests and the benchmark)
        if self.batching:
            threading.Thread(target=self._batch_loop, daemon=True, name="model-batcher").start()

    def invoke(self, body: bytes, content_type: str, accept: str) -> Tuple[bytes, str]:
        """Run one invocation; raise ModelInvocationError with the container's status."""
        try:
            if self._transform_fn is not None:
                with self._lock:
                    result = self._transform_fn(self.model, body, content_type, accept)
            elif self.batching:
                data = self._input_fn(body, content_type)
                prediction = self._predict_batched(data)
                result = self._output_fn(prediction, accept)
            else:
                with self._lock:
                    data = self._input_fn(body, content_type)
                    prediction = self._predict_fn(data, self.model)
                    result = self._output_fn(prediction, accept)
        except Exception as exc:  # the container's error contract, see the module docstring
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and 400 <= status < 500:
                message = getattr(exc, "message", None) or str(exc) or "bad request"
                raise ModelInvocationError(status, str(message)) from exc
            LOG.exception("invocation failed")
            raise ModelInvocationError(500, "the model failed to process the request") from exc
        if isinstance(result, tuple):
            payload, out_type = result[0], (result[1] or accept)
        else:
            payload, out_type = result, accept
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif not isinstance(payload, (bytes, bytearray)):
            payload = json.dumps(payload).encode("utf-8")
        return bytes(payload), out_type

    # --- opportunistic batching ---------------------------------------------------------------
    def _predict_batched(self, data: Any) -> Any:
        if not isinstance(data, list) or not data or len(data) >= self.max_batch_items:
            with self._lock:
                return self._predict_fn(data, self.model)
        slot: Dict[str, Any] = {"done": threading.Event()}
        with self._queue_ready:
            self._queue.append((data, slot))
            self._queue_ready.notify()
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return slot["result"]

    def _batch_loop(self) -> None:
        while True:
            with self._queue_ready:
                while not self._queue:
                    self._queue_ready.wait()
                taken, items = [], 0
                while self._queue and (not taken or items + len(self._queue[0][0]) <= self.max_batch_items):
                    data, slot = self._queue.pop(0)
                    taken.append((data, slot))
                    items += len(data)
            with self._lock:
                self._run_batch(taken)

    def _run_batch(self, taken: list) -> None:
        self.batches += 1
        if len(taken) > 1:
            merged = [item for data, _ in taken for item in data]
            try:
                answer = self._predict_fn(merged, self.model)
                predictions = answer.get("predictions") if isinstance(answer, dict) else None
                if isinstance(predictions, list) and len(predictions) == len(merged):
                    start = 0
                    for data, slot in taken:
                        slot["result"] = {**answer, "predictions": predictions[start:start + len(data)]}
                        start += len(data)
                        slot["done"].set()
                    return
            except Exception:  # re-run one by one: errors stay with the request that caused them
                pass
        for data, slot in taken:
            try:
                slot["result"] = self._predict_fn(data, self.model)
            except Exception as exc:
                slot["error"] = exc
            slot["done"].set()


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


class FastHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, Nagle off, one write per response, no access log."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    server_version = "headlines-local"
    sys_version = ""
    max_body_bytes = MAX_PAYLOAD_BYTES
    drain_limit_bytes = 4 * MAX_PAYLOAD_BYTES

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        LOG.debug("%s " + format, self.address_string(), *args)

    def send(self, status: int, body: bytes = b"", content_type: Optional[str] = "application/json",
             headers: Optional[Dict[str, str]] = None, close: bool = False) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + body if self.command != "HEAD" else head)

    def read_body(self) -> Optional[bytes]:
        """The request body, or None after answering 411/413 (and closing the connection)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
            if size < 0:
                raise ValueError(length)
        except ValueError:
            self.send_error_body(400, "bad Content-Length", close=True)
            return None
        if size > self.max_body_bytes:
            self.send_too_large()
            return None
        return self.rfile.read(size)

    def _read_chunked(self) -> Optional[bytes]:
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error_body(400, "bad chunked encoding", close=True)
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > self.max_body_bytes:
                self.send_too_large()
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def drain_body(self) -> None:
        """Read and drop a refused body (up to a limit) so that the client sees the answer
        rather than a reset connection; beyond the limit the connection is just closed."""
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self.drain_limit_bytes:
            remaining = int(length)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)

    def send_too_large(self) -> None:
        self.drain_body()
        self.send_error_body(413, f"request body larger than {self.max_body_bytes} bytes", close=True)

    def send_error_body(self, status: int, message: str, close: bool = False) -> None:
        self.send(status, _json({"code": status, "message": message}), close=close)


class EndpointHandler(FastHandler):
    server: "EndpointServer"

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            self.send(200, b'{"status":"Healthy"}')
        else:
            self.send_error_body(404, f"no route for GET {path}")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        body = self.read_body()
        if body is None:
            return
        path = self.path.split("?", 1)[0]
        if path == "/invocations":
            self._invocations(body)
        elif path.startswith("/endpoints/") and path.endswith("/invocations"):
            self._invoke_endpoint(path[len("/endpoints/"):-len("/invocations")], body)
        elif path == "/" and self.headers.get("X-Amz-Target", "").startswith("SageMaker."):
            self._control_plane(self.headers["X-Amz-Target"][len("SageMaker."):], body)
        else:
            self.send_error_body(404, f"no route for POST {path}")

    def _types(self) -> Tuple[str, str]:
        content_type = self.headers.get("Content-Type") or "application/json"
        accept = self.headers.get("Accept") or "application/json"
        if accept.strip() in ("*/*", ""):
            accept = "application/json"
        return content_type, accept

    def _invocations(self, body: bytes) -> None:
        content_type, accept = self._types()
        try:
            payload, out_type = self.server.service.invoke(body, content_type, accept)
        except ModelInvocationError as exc:
            self.send_error_body(exc.status_code, exc.message)
            return
        self.send(200, payload, out_type)

    # --- SageMaker Runtime InvokeEndpoint (rest-json) ---------------------------------------
    def _aws_error(self, status: int, code: str, message: str, **fields: Any) -> None:
        self.send(status, _json({"message": message, **fields}), "application/json",
                  {"x-amzn-ErrorType": code, "x-amzn-RequestId": self.server.next_request_id()})

    def _invoke_endpoint(self, name: str, body: bytes) -> None:
        from urllib.parse import unquote

        name = unquote(name)
        if name != self.server.endpoint_name:
            self._aws_error(400, "ValidationError",
                            f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.")
            return
        content_type, accept = self._types()
        try:
            payload, out_type = self.server.service.invoke(body, content_type, accept)
        except ModelInvocationError as exc:
            kind = "client" if exc.status_code < 500 else "server"
            self._aws_error(
                424, "ModelError",
                f'Received {kind} error ({exc.status_code}) from primary with message "{exc.message}". '
                f"See the local server's log for more information.",
                ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
                OriginalStatusCode=exc.status_code,
                OriginalMessage=exc.message,
                LogStreamArn=f"arn:aws:logs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            )
            return
        self.send(200, payload, out_type, {"x-Amzn-Invoked-Production-Variant": "AllTraffic",
                                           "x-amzn-RequestId": self.server.next_request_id()})

    # --- SageMaker control plane (json 1.1): just what the health check needs ----------------
    def _control_plane(self, operation: str, body: bytes) -> None:
        def error(code: str, message: str) -> None:
            self.send(400, _json({"__type": code, "message": message}), "application/x-amz-json-1.1",
                      {"x-amzn-RequestId": self.server.next_request_id()})

        if operation != "DescribeEndpoint":
            error("UnknownOperationException", f"the local endpoint server does not implement {operation}")
            return
        try:
            name = json.loads(body or b"{}").get("EndpointName")
        except (ValueError, AttributeError):
            error("SerializationException", "request body is not a JSON object")
            return
        if name != self.server.endpoint_name:
            error("ValidationException", f'Could not find endpoint "{name}".')
            return
        arn = f"arn:aws:sagemaker:{LOCAL_REGION}:{LOCAL_ACCOUNT}:endpoint/{name.lower()}"
        self.send(200, _json({
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": name,
            "EndpointStatus": "InService",
            "CreationTime": self.server.started_at,
            "LastModifiedTime": self.server.started_at,
        }), "application/x-amz-json-1.1", {"x-amzn-RequestId": self.server.next_request_id()})


class ConnectionBoard:
    """How many connections each worker process holds, in a small shared file: a worker that
    holds more than another lets that one accept the next connection, so that long-lived
    keep-alive connections spread evenly (the kernel hands a shared socket's connections to
    whichever worker accepts first)."""

    _COUNT = struct.Struct("q")

    def __init__(self, path: str, slot: int, slots: int):
        self.slot, self.slots = slot, slots
        with open(path, "r+b") as handle:
            self._map = mmap.mmap(handle.fileno(), slots * self._COUNT.size)
        self._lock = threading.Lock()

    def counts(self) -> list:
        return [self._COUNT.unpack_from(self._map, i * self._COUNT.size)[0] for i in range(self.slots)]

    def change(self, delta: int) -> None:
        with self._lock:  # one writer per slot (this process); the lock covers its threads
            offset = self.slot * self._COUNT.size
            self._COUNT.pack_into(self._map, offset, self._COUNT.unpack_from(self._map, offset)[0] + delta)

    def busier_than_another(self) -> bool:
        counts = self.counts()
        return counts[self.slot] > min(counts)


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    # How long a busier worker leaves a waiting connection to the others before taking it.
    max_defer_seconds = 0.02

    def __init__(self, address: Tuple[str, int], service: ModelService,
                 endpoint_name: str = DEFAULT_ENDPOINT_NAME, listening: Optional[socket.socket] = None,
                 board: Optional[ConnectionBoard] = None):
        self.service = service
        self.endpoint_name = endpoint_name
        self.started_at = time.time()
        self.board = board
        self._deferred_since: Optional[float] = None
        self._ids = 0
        self._ids_lock = threading.Lock()
        if listening is None:
            super().__init__(address, EndpointHandler)
        else:  # a worker process serving a socket its supervisor bound
            super().__init__(listening.getsockname()[:2], EndpointHandler, bind_and_activate=False)
            self.socket.close()
            self.socket = listening
            self.server_address = listening.getsockname()[:2]

    @property
    def port(self) -> int:
        return self.server_address[1]

    def _handle_request_noblock(self) -> None:
        if self.board is not None and self.board.busier_than_another():
            now = time.monotonic()
            if self._deferred_since is None:
                self._deferred_since = now
            if now - self._deferred_since < self.max_defer_seconds:
                time.sleep(0.0005)  # the connection stays queued for a less busy worker
                return
        self._deferred_since = None
        super()._handle_request_noblock()

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.board is not None:
            self.board.change(+1)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        if self.board is not None:
            self.board.change(-1)

    def next_request_id(self) -> str:
        with self._ids_lock:
            self._ids += 1
            return f"local-{os.getpid()}-{self._ids:08d}"


def make_endpoint_server(model_dir: Union[str, Path], host: str = "127.0.0.1", port: int = 0,
                         endpoint_name: str = DEFAULT_ENDPOINT_NAME, batching: bool = False) -> EndpointServer:
    """Load the model and bind the server (``port=0``: a free port; see ``server.port``)."""
    return EndpointServer((host, port), ModelService(model_dir, batching=batching), endpoint_name)


def start_in_thread(server: ThreadingHTTPServer) -> Callable[[], None]:
    """Serve in a daemon thread; returns the function that stops the server."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"{type(server).__name__}:{server.server_address[1]}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def start_endpoint_server(model_dir: Union[str, Path], host: str = "127.0.0.1", port: int = 0,
                          endpoint_name: str = DEFAULT_ENDPOINT_NAME, batching: bool = False
                          ) -> Tuple[EndpointServer, int, Callable[[], None]]:
    """Start the endpoint server in a background thread: (server, bound port, stop)."""
    server = make_endpoint_server(model_dir, host, port, endpoint_name, batching)
    return server, server.port, start_in_thread(server)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def default_workers() -> int:
    """Like the SageMaker model server: SAGEMAKER_MODEL_SERVER_WORKERS, else one per CPU."""
    try:
        return max(1, int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or os.cpu_count() or 1))
    except ValueError:
        return max(1, os.cpu_count() or 1)


# One OpenMP thread per worker process and MXNet's synchronous engine: with a worker per CPU
# and a small network, extra compute threads only add hand-offs and contention (tail latency).
WORKER_ENVIRONMENT = {"OMP_NUM_THREADS": "1", "MXNET_ENGINE_TYPE": "NaiveEngine"}


def _exit_with_parent() -> None:
    def watch_stdin() -> None:
        while sys.stdin.buffer.read(1024):
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True, name="parent-watch").start()


def _supervise(args: argparse.Namespace) -> int:
    """Bind once, start ``args.workers`` worker processes on that socket, wait for them all to
    load the model, then announce the address; a worker that dies takes the server down."""
    import signal
    import subprocess

    import tempfile

    listening = socket.create_server((args.host, args.port), backlog=256)
    port = listening.getsockname()[1]
    env = dict(os.environ)
    for name, value in WORKER_ENVIRONMENT.items():
        env.setdefault(name, value)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    board_fd, board_path = tempfile.mkstemp(prefix="headlines-endpoint-", dir=shm)
    os.write(board_fd, bytes(8 * args.workers))
    os.close(board_fd)
    command = [sys.executable, "-m", "headlines.endpoint_server", "--model", args.model, "--host", args.host,
               "--endpoint-name", args.endpoint_name, "--listen-fd", str(listening.fileno()), "--exit-with-parent",
               "--board", f"{board_path}:{args.workers}"] + (["--batching"] if args.batching else ["--no-batching"])
    workers = [subprocess.Popen(command + ["--slot", str(slot)], pass_fds=(listening.fileno(),),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
               for slot in range(args.workers)]

    def stop_all(*_: Any) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()

    def on_sigterm(*_: Any) -> None:
        stop_all()
        with contextlib.suppress(OSError):
            os.unlink(board_path)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for worker in workers:
            if "ready" not in (worker.stdout.readline() or ""):
                LOG.error("a worker failed to load the model (its error is above)")
                return 1
        print(f"endpoint server listening on http://{args.host}:{port} ({args.workers} worker processes, "
              f"batching {'on' if args.batching else 'off'})", flush=True)
        while all(worker.poll() is None for worker in workers):
            time.sleep(0.5)
        LOG.error("a worker process exited; stopping")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()
        listening.close()
        with contextlib.suppress(OSError):
            os.unlink(board_path)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a model artifact with the SageMaker container contract.")
    parser.add_argument("--model", required=True, help="extracted model artifact (holds code/inference.py)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT_NAME)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes, each with the model loaded (default: SAGEMAKER_MODEL_SERVER_WORKERS, "
                             "else one per CPU)")
    parser.add_argument("--batching", action=argparse.BooleanOptionalAction,
                        default=_env_flag("HEADLINES_ENDPOINT_BATCHING", False),
                        help="merge the predict_fn calls of concurrent requests (see ModelService); default off "
                             "(deterministic answers), or HEADLINES_ENDPOINT_BATCHING=0|1")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when standard input closes (the parent process went away)")
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--board", help=argparse.SUPPRESS)
    parser.add_argument("--slot", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = args.workers or default_workers()
    if args.listen_fd is None and workers > 1:
        args.workers = workers
        return _supervise(args)
    listening = board = None
    if args.listen_fd is not None:  # a worker: never block in accept() on the shared socket
        listening = socket.socket(fileno=args.listen_fd)
        listening.setblocking(False)
        if args.board:
            path, _, slots = args.board.rpartition(":")
            board = ConnectionBoard(path, args.slot, int(slots))
    server = EndpointServer((args.host, args.port), ModelService(args.model, batching=args.batching),
                            args.endpoint_name, listening, board)
    if listening is not None:
        print("worker ready", flush=True)
    else:
        print(f"endpoint server listening on http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
