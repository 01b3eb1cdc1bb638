#!/usr/bin/env python
"""Serving benchmark: where the time goes between a caller and the model, on loopback, for
today's code beside an older commit's (by default 0fbf72d, before issue 25), in one run.

Prints one table with p50/p99 latency, requests/s and headlines/s of each version, and their
ratio, for:

1. the model alone, in the container's Python (``.venv-sagemaker``: 3.8, mxnet 1.9.0, with the
   serving toolkit's thread settings): ``predict_fn`` on input already parsed (one headline,
   and a batch of 100), and the chain ``input_fn -> predict_fn -> output_fn``; with a worker's
   cold start (importing code/inference.py, ``model_fn``, the first answer) and its memory;
2. the endpoint as the SageMaker MXNet image runs it: AWS's serving toolkit behind Multi Model
   Server (``POST /invocations``, one worker per CPU) at concurrency 1, 8 and 32, and the CPU
   a one-headline request costs at concurrency 8 in MMS's Java frontend, in its Python
   workers and in the load generator (from /proc);
3. the Lambda handler's own overhead per invocation: the handler called with API Gateway
   events, its endpoint call answered (a) by botocore's Stubber and (b) by an instant
   loopback server, minus that server's bare round trip; and two of its parts alone (its
   floor): Powertools' resolver with validation, and botocore's call under the Stubber;
4. the whole local path (HTTP -> API front -> handler processes -> boto3 -> local SageMaker
   runtime API -> MMS -> toolkit -> model) at concurrency 1, 8 and 32.

Each version serves the same model: its parameters with the version's own ``code/`` (its
``inference/`` folder), behind its own local API, handler and container launcher. The older
commit is taken with ``git archive`` into a temporary folder. Both versions' probabilities for
the shipped sample's first headlines are compared (largest difference, changed categories).

Servers run in their own processes (``python -m headlines.local.api_front``, which starts MMS as
``headlines serve`` does); the load generator is this process: threads on keep-alive
connections with pre-built requests, so that the client costs little. Every cell is bounded
in requests and seconds. Versions alternate stage by stage; the machine's load average is
printed before and after: on a shared machine, compare figures from one run only.

Usage: ``python bench/serving.py [--model DIR] [--seconds S] [--baseline REV|none]``. Without
--model it uses the current local model (``.headlines/model``), else trains a tiny one on the
shipped sample into a temporary folder.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ONE = "Fed raises interest rates again"
_SUBJECTS = ["Fed", "Apple", "Google", "Pfizer", "Beyonce", "Samsung", "The ECB", "Microsoft", "Ebola", "Netflix"]
_EVENTS = ["raises interest rates again", "unveils a new smartphone", "shares fall after earnings miss",
           "announces a world tour", "outbreak spreads to a new country", "wins a court ruling on patents",
           "recalls millions of cars", "releases the trailer of its new series", "study links sugar to heart disease",
           "buys a startup for 2 billion dollars"]
BATCH = [f"{_SUBJECTS[i % 10]} {_EVENTS[(i * 7 + i // 10) % 10]} ({i})" for i in range(100)]
CONCURRENCY = (1, 8, 32)
BASELINE = "0fbf72d"  # the code before issue 25 (fast answers)
SAMPLE = REPO / "headlines" / "sample_data" / "newsCorpora-sample.csv.gz"
COMPARED_HEADLINES = 2000  # of the sample, scored by both versions


# --- statistics and the table --------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


class Row:
    def __init__(self, stage: str, payload: str, concurrency: Optional[int], latencies: List[float],
                 wall: float, headlines: int, errors: int = 0, version: str = "new"):
        self.stage, self.payload, self.concurrency, self.version = stage, payload, concurrency, version
        values = sorted(latencies)
        self.count = len(values)
        self.p50, self.p95, self.p99 = (percentile(values, q) * 1000 for q in (50, 95, 99))
        self.rps = self.count / wall if wall > 0 else float("nan")
        self.hps = self.rps * headlines
        self.errors = errors

    @property
    def key(self) -> Tuple[str, str, Optional[int]]:
        return self.stage, self.payload, self.concurrency

    def to_json(self) -> Dict[str, object]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Dict[str, object]) -> "Row":
        row = cls.__new__(cls)
        vars(row).update(data)
        return row


def _cell(row: Optional[Row]) -> str:
    if row is None:
        return f"{'-':>31}"
    cell = f"{row.p50:8.3f} {row.p99:8.3f} {row.hps:8.0f} {row.count:5d}"
    return cell + (f" ({row.errors} errors)" if row.errors else "")


def print_table(rows: List[Row], versions: Sequence[str]) -> None:
    """One line per cell: each version's p50 / p99 ms, headlines/s and requests measured, then
    new/old: the ratio of headlines/s and of p50 and p99 (below 1: faster)."""
    keys = list(dict.fromkeys(row.key for row in rows))
    found = {(row.key, row.version): row for row in rows}
    head = f"{'stage':<44} {'payload':<9} {'conc':>4}"
    for version in versions:
        head += f" | {version + ': p50 ms':>14} {'p99 ms':>8} {'headl/s':>8} {'n':>5}"
    if len(versions) == 2:
        head += f" | {'x headl/s':>9} {'x p50':>6} {'x p99':>6}"
    print(head)
    print("-" * len(head))
    for key in keys:
        stage, payload, concurrency = key
        line = f"{stage:<44} {payload:<9} {'-' if concurrency is None else concurrency:>4}"
        cells = [found.get((key, version)) for version in versions]
        for cell in cells:
            line += " | " + _cell(cell)
        if len(cells) == 2 and cells[0] is not None and cells[1] is not None:
            old, new = cells
            line += f" | {new.hps / old.hps:9.2f} {new.p50 / old.p50:6.2f} {new.p99 / old.p99:6.2f}"
        print(line, flush=True)


def timed_loop(function: Callable[[], object], max_count: int, max_seconds: float, warmup: int = 20) -> Tuple[List[float], float]:
    for _ in range(warmup):
        function()
    latencies: List[float] = []
    started = time.perf_counter()
    deadline = started + max_seconds
    while len(latencies) < max_count:
        t0 = time.perf_counter()
        function()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 > deadline:
            break
    return latencies, time.perf_counter() - started


# --- a lean HTTP/1.1 keep-alive client ---------------------------------------------------------------
def http_request(method: str, path: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Connection:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def roundtrip(self, request: bytes) -> int:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        length = int(match.group(1)) if match else 0
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buffer = rest[length:]
        return status

    def close(self) -> None:
        self.sock.close()


def load(port: int, request: bytes, concurrency: int, max_requests: int, max_seconds: float,
         warmup_per_connection: int = 5) -> Tuple[List[float], float, int]:
    """Closed-loop load: ``concurrency`` connections, each sending its next request on the
    previous answer. Returns latencies, wall time and the number of non-200 answers."""
    connections = [Connection(port) for _ in range(concurrency)]
    for connection in connections:
        for _ in range(warmup_per_connection):
            connection.roundtrip(request)
    latencies: List[List[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    issued = [0]
    lock = threading.Lock()
    start_gate = threading.Event()
    deadline = [0.0]

    def worker(index: int) -> None:
        connection = connections[index]
        mine = latencies[index]
        start_gate.wait()
        while True:
            with lock:
                if issued[0] >= max_requests:
                    return
                issued[0] += 1
            t0 = time.perf_counter()
            status = connection.roundtrip(request)
            t1 = time.perf_counter()
            mine.append(t1 - t0)
            if status != 200:
                errors[index] += 1
            if t1 > deadline[0]:
                return

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + max_seconds
    start_gate.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return [value for per in latencies for value in per], wall, sum(errors)


# --- the servers ---------------------------------------------------------------------------------
def code_environment(code: Path) -> Dict[str, str]:
    """Runs a version's own modules (its checkout first on the path), with this checkout's
    SageMaker-shaped environment (an archived commit has none)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
                HEADLINES_SAGEMAKER_VENV=os.environ.get("HEADLINES_SAGEMAKER_VENV", str(REPO / ".venv-sagemaker")))


def start_local_api_process(model_dir: Path, code: Path = REPO,
                            results: Optional[Path] = None) -> Tuple[subprocess.Popen, int, int]:
    env = dict(code_environment(code), POWERTOOLS_LOG_LEVEL="ERROR")
    recording = ["--results", str(results)] if results is not None else []
    process = subprocess.Popen([sys.executable, "-m", "headlines.local.api_front", "--model", str(model_dir), "--port", "0",
                                *recording],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               env=env, text=True, cwd=code)
    endpoint_port = api_port = 0
    deadline = time.monotonic() + 300
    while not (endpoint_port and api_port):
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the local API exited with status {process.wait()}")
        if line.startswith("model server"):
            endpoint_port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        elif line.startswith("REST API"):
            api_port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        if time.monotonic() > deadline:
            raise RuntimeError("the local API did not start")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return process, endpoint_port, api_port


INSTANT_ANSWER = json.dumps({"predictions": [{"label": "b", "category": "business", "confidence": 0.9,
                                              "scores": {"business": 0.9, "science_technology": 0.04,
                                                         "entertainment": 0.03, "health": 0.03}}],
                             "model": {"version": "instant", "test_accuracy": 0.9, "test_macro_f1": 0.9}}).encode()


def instant_server_main() -> None:
    """A stand-in endpoint that answers every request at once (for the handler's overhead)."""
    from http.server import ThreadingHTTPServer

    from headlines.local.http_server import FastHandler

    class Instant(FastHandler):
        def do_POST(self) -> None:
            self.read_body()
            self.send(200, INSTANT_ANSWER)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Instant)
    print(server.server_address[1], flush=True)
    server.serve_forever()


# --- the stages ------------------------------------------------------------------------------------
def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def model_stage_main(model_dir: str, seconds: float, compare_to: str) -> None:
    """Runs in the container's Python: a worker's cold start and memory, the model rows (JSON
    lines on stdout), and the sample's probabilities into ``compare_to`` (.npy)."""
    started = time.perf_counter()
    code_dir = os.path.join(model_dir, "code")
    sys.path.insert(0, code_dir)
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("inference", os.path.join(code_dir, "inference.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.model_fn(model_dir)
    module.predict_fn(module.input_fn(json.dumps({"headline": ONE}), "application/json"), model)
    cold = time.perf_counter() - started
    loaded = _rss_mib()
    for label, headlines, count in (("1", [ONE], 3000), ("batch 100", BATCH, 500)):
        body = json.dumps({"headlines": headlines}).encode()
        data = module.input_fn(body, "application/json")
        latencies, wall = timed_loop(lambda data=data: module.predict_fn(data, model), count, seconds)
        print(json.dumps(["model: predict_fn (container Python)", label, latencies, wall, len(headlines)]), flush=True)

        def chain(body: bytes = body) -> object:
            return module.output_fn(module.predict_fn(module.input_fn(body, "application/json"), model),
                                    "application/json")

        latencies, wall = timed_loop(chain, count, seconds)
        print(json.dumps(["model: input_fn+predict_fn+output_fn", label, latencies, wall, len(headlines)]), flush=True)
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        titles = [line.split("\t")[1] for _, line in zip(range(COMPARED_HEADLINES), handle)]
    np.save(compare_to, np.concatenate([model.probabilities(titles[start:start + 100])
                                        for start in range(0, len(titles), 100)]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cold_start_s": cold, "rss_loaded_mib": loaded, "rss_peak_mib": peak}), flush=True)


def bench_model(model_dir: Path, seconds: float, version: str, compare_to: Path) -> Tuple[List[Row], Dict[str, float]]:
    from headlines.local import container_env
    from headlines.local.endpoint import check_serving_prerequisites

    check_serving_prerequisites()
    # The serving toolkit's thread settings (sagemaker_mxnet_serving_container.serving).
    env = dict(os.environ, MXNET_CPU_WORKER_NTHREADS="1", MXNET_CPU_PRIORITY_NTHREADS="1",
               MXNET_KVSTORE_REDUCTION_NTHREADS="1", OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    run = container_env.run([__file__, "--model-stage", str(model_dir), "--seconds", str(seconds),
                             "--compare-to", str(compare_to)], capture_output=True, text=True, env=env, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"the model stage failed: {run.stderr[-2000:]}")
    rows, worker = [], {}
    for line in run.stdout.splitlines():
        if line.startswith("["):
            stage, label, latencies, wall, count = json.loads(line)
            rows.append(Row(stage, label, None, latencies, wall, count, version=version))
        elif line.startswith("{"):
            worker = json.loads(line)
    return rows, worker


JIT_WARMUP_SECONDS = 3.0


def bench_server(name: str, port: int, path: str, seconds: float, body_for: Callable[[List[str]], bytes],
                 version: str, payloads: Sequence[str] = ("1", "batch 100")) -> List[Row]:
    rows = []
    for label, headlines, cap in (("1", [ONE], 4000), ("batch 100", BATCH, 600)):
        if label not in payloads:
            continue
        request = http_request("POST", path, body_for(headlines))
        # Multi Model Server's frontend is Java: measure it after its JIT warm-up (3 s of the same
        # load), as a long-running endpoint is, not its first seconds.
        load(port, request, max(CONCURRENCY), cap, JIT_WARMUP_SECONDS)
        for concurrency in CONCURRENCY:
            latencies, wall, errors = load(port, request, concurrency, cap, seconds)
            rows.append(Row(name, label, concurrency, latencies, wall, len(headlines), errors, version))
    return rows


def _process_kind(command: str) -> Optional[str]:
    if "com.amazonaws.ml.mms" in command:
        return "MMS frontend (Java)"
    if "model_service_worker" in command:
        return "model workers (MMS worker, toolkit, model)"
    return None


def _cpu_seconds_by_kind() -> Dict[str, float]:
    """CPU seconds so far of this machine's MMS processes, by kind (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: Dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = _process_kind(command)
        if kind:
            seconds[kind] = seconds.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def endpoint_cpu_per_request(port: int, seconds: float, concurrency: int = 8) -> Dict[str, float]:
    """Where one-headline requests' CPU goes at ``concurrency``: ms per request in MMS's Java
    frontend, in its Python workers, and in this load generator."""
    request = http_request("POST", "/invocations", json.dumps({"headlines": [ONE]}).encode())
    before, client_before = _cpu_seconds_by_kind(), resource.getrusage(resource.RUSAGE_SELF)
    latencies, _, _ = load(port, request, concurrency, 20000, seconds)
    after, client_after = _cpu_seconds_by_kind(), resource.getrusage(resource.RUSAGE_SELF)
    count = max(len(latencies), 1)
    split = {kind: (after[kind] - before.get(kind, 0.0)) * 1000 / count for kind in after}
    split["load generator (this process)"] = (client_after.ru_utime + client_after.ru_stime
                                              - client_before.ru_utime - client_before.ru_stime) * 1000 / count
    return split


class _Context:
    function_name = "headlines-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:headlines-api"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28000


@contextlib.contextmanager
def _instant_answers(client, count: int) -> Iterator[None]:
    """``client``'s next ``count`` invoke_endpoint calls answered by botocore's Stubber."""
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    with Stubber(client) as stub:
        for _ in range(count):
            stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(INSTANT_ANSWER), len(INSTANT_ANSWER))})
        yield


def bench_handler(seconds: float) -> List[Row]:
    """The handler as Lambda runs it (metrics on, logs at INFO), one event at a time."""
    from headlines.local.api_front import build_event, handler_environment, load_handler

    instant = subprocess.Popen([sys.executable, __file__, "--instant-server"], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, env=code_environment(REPO))
    try:
        port = int(instant.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        env = handler_environment(url)
        env["POWERTOOLS_METRICS_DISABLED"] = "false"
        module = load_handler(env)
        body = json.dumps({"headline": ONE}).encode()
        event = build_event("POST", "/v1/classify", [("Host", "127.0.0.1"), ("Content-Type", "application/json")],
                            body, "bench-request")
        context = _Context()
        sink = open(os.devnull, "w")
        rows = []
        with contextlib.redirect_stdout(sink):
            # (a) the endpoint call answered by botocore's Stubber (no HTTP at all)
            count = 3000
            with _instant_answers(module.runtime, count + 20):
                stubbed, wall = timed_loop(lambda: module.handler(event, context), count, seconds)
            rows.append(Row("handler: endpoint call stubbed (Stubber)", "1", 1, stubbed, wall, 1))
            rows += _handler_floor(module, event, context, body, count, seconds)
            # (b) the endpoint call to an instant loopback server
            latencies, wall = timed_loop(lambda: module.handler(event, context), count, seconds)
            rows.append(Row("handler: + boto3 call to an instant server", "1", 1, latencies, wall, 1))
        sink.close()
        bare, wall, _ = load(port, http_request("POST", "/endpoints/headlines-local/invocations", body), 1, count, seconds)
        rows.append(Row("  instant server's bare round trip", "1", 1, bare, wall, 1))
        return rows
    finally:
        instant.terminate()
        instant.wait(timeout=10)


def _handler_floor(module, event: Dict[str, object], context: _Context, body: bytes, count: int,
                   seconds: float) -> List[Row]:
    """Two parts of the stubbed handler alone: Powertools' resolver with its request validation
    (the handler's request model) on a route that only answers, and botocore's
    invoke_endpoint answered by the Stubber."""
    from typing import Annotated

    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.event_handler.openapi.params import Body

    app = APIGatewayRestResolver(enable_validation=True)

    @app.post("/v1/classify")
    def classify(request: Annotated[module.ClassifyRequest, Body()]) -> Response[str]:
        return Response(status_code=200, content_type="application/json", body="{}")

    resolved, wall = timed_loop(lambda: app.resolve(event, context), count, seconds)
    rows = [Row("  floor: Powertools resolver + validation", "1", 1, resolved, wall, 1)]
    with _instant_answers(module.runtime, count + 20):
        called, wall = timed_loop(lambda: module.runtime.invoke_endpoint(
            EndpointName="bench", ContentType="application/json", Accept="application/json", Body=body)["Body"].read(),
            count, seconds)
    rows.append(Row("  floor: boto3 invoke_endpoint (Stubber)", "1", 1, called, wall, 1))
    return rows


# --- the model to serve ----------------------------------------------------------------------------
def find_or_train_model(explicit: Optional[str]) -> Path:
    if explicit:
        path = Path(explicit)
        if not (path / "code" / "inference.py").is_file():
            sys.exit(f"error: {path} is not an extracted model artifact (no code/inference.py)")
        return path
    from headlines.local.pipeline import DEFAULT_WORKDIR, current_model

    current = current_model(REPO / DEFAULT_WORKDIR) or current_model(DEFAULT_WORKDIR)
    if current is not None:
        return current
    import gzip
    import shutil

    from rich.console import Console

    from headlines.config import load_config
    from headlines.local.pipeline import train
    from headlines.local.sources import SAMPLE_CORPUS, SAMPLE_NEWS

    workdir = Path(tempfile.mkdtemp(prefix="headlines-bench-"))
    print(f"no current model: training a small one on the shipped sample in {workdir} ...", flush=True)
    inputs = {}
    for name, source in (("news.csv", SAMPLE_NEWS), ("corpus.txt", SAMPLE_CORPUS)):
        inputs[name] = workdir / name
        with gzip.open(source, "rb") as compressed, open(inputs[name], "wb") as plain:
            shutil.copyfileobj(compressed, plain)
    result = train(load_config(), workdir=workdir, data=str(inputs["news.csv"]), corpus=str(inputs["corpus.txt"]),
                   overrides={"epochs": 1}, console=Console(stderr=True, quiet=True))
    return result.model_dir


def run_handler_stage(code: Path, seconds: float, version: str) -> List[Row]:
    """bench_handler with a version's own handler and local-mode modules, in a fresh process."""
    run = subprocess.run([sys.executable, __file__, "--handler-stage", "--code", str(code), "--seconds", str(seconds)],
                         capture_output=True, text=True, env=code_environment(code), timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"the handler stage failed: {run.stderr[-2000:]}")
    rows = [Row.from_json(json.loads(line)) for line in run.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row.version = version
    return rows


def bench_servers(model_dir: Path, code: Path, seconds: float, version: str,
                  results: Optional[Path] = None, cpu: Optional[Dict[str, Dict[str, float]]] = None) -> List[Row]:
    """The endpoint and the whole path; with ``results``, only the whole path, recording every
    answer into a live results store there (issue 26: recording's cost under load). With
    ``cpu``, the endpoint's CPU per one-headline request by process goes into ``cpu[version]``."""
    process, endpoint_port, api_port = start_local_api_process(model_dir, code, results)
    try:
        endpoint_rows = [] if results is not None else bench_server(
            "endpoint (toolkit + MMS): POST /invocations", endpoint_port, "/invocations",
            seconds, lambda h: json.dumps({"headlines": h}).encode(), version)
        if cpu is not None:
            cpu[version] = endpoint_cpu_per_request(endpoint_port, seconds)
        return (endpoint_rows
                + bench_server("whole path: POST /v1/classify", api_port, "/v1/classify", seconds,
                               lambda h: json.dumps({"headline": h[0]} if len(h) == 1 else {"headlines": h}).encode(),
                               version))
    finally:
        process.terminate()
        process.wait(timeout=60)


def checkout(revision: str, folder: Path) -> Path:
    """The files of ``revision`` (git archive) in ``folder``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True,
                             check=True).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def model_with_code(model_dir: Path, code: Path, folder: Path) -> Path:
    """The model's files with ``code``'s serving code (its inference/ folder) as code/."""
    folder.mkdir()
    for item in model_dir.iterdir():
        if item.name != "code":
            (folder / item.name).symlink_to(item.resolve())
    shutil.copytree(code / "inference", folder / "code", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="extracted model artifact (default: .headlines/model, else train a tiny one)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time bound of each cell (default 3)")
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"the older code to measure beside today's: a git revision (default {BASELINE}, "
                             "before issue 25), or 'none'")
    parser.add_argument("--record", action="store_true",
                        help="also run today's whole local path recording every answer (live results), beside it without")
    parser.add_argument("--instant-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-stage", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--compare-to", help=argparse.SUPPRESS)
    parser.add_argument("--handler-stage", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.instant_server:
        instant_server_main()
        return 0
    if args.model_stage:
        model_stage_main(args.model_stage, args.seconds, args.compare_to)
        return 0
    if args.handler_stage:
        sys.path.insert(0, args.code)  # this version's headlines package and handler
        for row in bench_handler(args.seconds):
            print(json.dumps(row.to_json()), flush=True)
        return 0

    model_dir = find_or_train_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="headlines-bench-serving-"))
    try:
        versions: List[Tuple[str, Path]] = []
        if args.baseline != "none":
            versions.append((f"old {args.baseline}", checkout(args.baseline, work / "baseline")))
        versions.append(("new", REPO))
        print(f"model: {model_dir}; code: " + ", ".join(f"{name} ({code})" for name, code in versions))
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, cell bound {args.seconds:g} s, "
              f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
              "(other processes compete for the same CPUs)\n", flush=True)
        served = {name: model_with_code(model_dir, code, work / f"model-{number}")
                  for number, (name, code) in enumerate(versions)}
        rows: List[Row] = []
        workers: Dict[str, Dict[str, float]] = {}
        for name, _ in versions:
            found, workers[name] = bench_model(served[name], args.seconds, name, work / f"{name}.npy".replace(" ", "-"))
            rows += found
        for name, code in versions:
            rows += run_handler_stage(code, args.seconds, name)
        cpu: Dict[str, Dict[str, float]] = {}
        for name, code in versions:
            rows += bench_servers(served[name], code, args.seconds, name, cpu=cpu)
        columns = [name for name, _ in versions]
        if args.record:
            rows += bench_servers(served["new"], REPO, args.seconds, RECORDING, results=work / "results")
            columns.append(RECORDING)
        print_table(rows, columns)
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
        for name, worker in workers.items():
            print(f"{name}: a worker's cold start (import, model_fn, first answer) {worker['cold_start_s']:.2f} s; "
                  f"memory {worker['rss_loaded_mib']:.0f} MiB loaded, {worker['rss_peak_mib']:.0f} MiB at most")
        report_cpu(cpu, rows)
        if args.record:
            report_recording(rows)
        if len(versions) == 2:
            report_agreement(*(work / f"{name}.npy".replace(" ", "-") for name, _ in versions))
            report_targets(rows, [name for name, _ in versions])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report_agreement(old_path: Path, new_path: Path) -> None:
    import numpy as np

    old, new = np.load(old_path), np.load(new_path)
    changed = int((old.argmax(axis=1) != new.argmax(axis=1)).sum())
    print(f"predictions of the sample's first {len(old)} headlines: largest difference "
          f"{float(np.abs(old - new).max()):.2g}, {changed} in another category")


def report_cpu(cpu: Dict[str, Dict[str, float]], rows: List[Row]) -> None:
    """The endpoint's CPU per one-headline request (concurrency 8) by process, beside the
    model's own predict_fn p50 in the same version."""
    print("\nendpoint, one headline, concurrency 8: CPU ms per request, by process")
    for version, split in cpu.items():
        model = next((row.p50 for row in rows if row.version == version and row.payload == "1"
                      and row.stage.startswith("model: predict_fn")), float("nan"))
        parts = ", ".join(f"{kind} {value:.2f}" for kind, value in split.items())
        print(f"  {version}: {parts}; total {sum(split.values()):.2f} (the model's predict_fn p50: {model:.2f})")


RECORDING = "new, recording"


def report_recording(rows: List[Row]) -> None:
    """Issue 26's target: recording keeps the whole path's p99 within 10 % of without."""
    print("\nrecording every answer (live results), against today's code without, in this run:")
    for row in rows:
        if row.version != RECORDING:
            continue
        plain = next(other for other in rows if other.version == "new" and other.key == row.key)
        ratio = row.p99 / plain.p99
        print(f"  {row.stage} {row.payload}, concurrency {row.concurrency}: p99 {plain.p99:.3f} -> {row.p99:.3f} ms "
              f"x{ratio:.2f} (<= 1.10) {'ok' if ratio <= 1.10 else 'MISSED'}")


def report_targets(rows: List[Row], versions: Sequence[str]) -> None:
    """Issue 25's targets: each a ratio against the older code in this run."""
    old, new = versions

    def cell(version: str, stage: str, payload: str, concurrency: Optional[int]) -> Row:
        return next(row for row in rows if row.version == version and row.stage.startswith(stage)
                    and row.payload == payload and row.concurrency == concurrency)

    checks = []
    for what, stage, payload, concurrency, measure, target in (
            ("model in process, batches of 100: headlines/s", "model: predict_fn", "batch 100", None, "hps", 5.0),
            ("model in process, one headline: p50", "model: predict_fn", "1", None, "p50", 1 / 4),
            ("endpoint, one headline, concurrency 8: p99", "endpoint", "1", 8, "p99", 1 / 3),
            ("endpoint, batches of 100, concurrency 32: headlines/s", "endpoint", "batch 100", 32, "hps", 2.5),
            ("whole local path, one headline, concurrency 8: p99", "whole path", "1", 8, "p99", 1 / 2),
            ("handler overhead (endpoint stubbed): p50", "handler: endpoint call stubbed", "1", 1, "p50", 1 / 2)):
        before, after = getattr(cell(old, stage, payload, concurrency), measure), \
            getattr(cell(new, stage, payload, concurrency), measure)
        ratio = after / before
        met = ratio >= target if measure == "hps" else ratio <= target
        checks.append(f"  {what:<56} {before:9.3f} -> {after:9.3f}  x{ratio:5.2f} "
                      f"({'>=' if measure == 'hps' else '<='} {target:.2f}) {'ok' if met else 'MISSED'}")
    print("\ntargets (issue 25), new against old in this run:")
    print("\n".join(checks))


if __name__ == "__main__":
    sys.exit(main())
