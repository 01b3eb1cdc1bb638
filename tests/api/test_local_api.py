"""The whole local path on a real (tiny) trained model: HTTP -> API front -> a pool of
processes running the unchanged Lambda handler -> boto3 -> the local SageMaker runtime API ->
Multi Model Server -> AWS's MXNet serving toolkit -> code/inference.py -> MXNet."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest

from headlines.local.endpoint import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-api")]
CATEGORIES = {"business", "science_technology", "entertainment", "health"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Client:
    def __init__(self, url):
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port

    def call(self, method, path, body=None, headers=None, chunked=False):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            payload = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, \
                (json.loads(payload) if payload else None)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def client(local_api):
    return Client(local_api.url)


def check(contract, method, path, answer):
    status, headers, body = answer
    contract.validate(method, path, status, headers, body)
    return answer


def test_classify_one(client, contract):
    status, headers, body = check(contract, "POST", "/v1/classify",
                                  client.call("POST", "/v1/classify", {"headline": "Fed raises interest rates again"}))
    assert status == 200, body
    assert body["category"] in CATEGORIES
    assert headers["content-type"] == "application/json"
    assert body["model"]["version"]


def test_batch_matches_single_calls(client, contract):
    headlines = ["Fed raises interest rates again", "New Ebola case confirmed in Guinea",
                 "Apple unveils a bigger iPhone", "Kim Kardashian and Kanye West wedding photos"]
    status, _, batch = check(contract, "POST", "/v1/classify", client.call("POST", "/v1/classify", {"headlines": headlines}))
    assert status == 200
    assert len(batch["predictions"]) == len(headlines)
    for headline, prediction in zip(headlines, batch["predictions"]):
        _, _, single = client.call("POST", "/v1/classify", {"headline": headline})
        assert single["category"] == prediction["category"]
        assert single["scores"] == pytest.approx(prediction["scores"], abs=1e-5)


def test_curl_default_content_type_works(client):
    status, _, body = client.call("POST", "/v1/classify", '{"headline":"Fed raises interest rates again"}',
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body["category"] in CATEGORIES


@pytest.mark.parametrize("body, headers, status, code", [
    ('{"headline": ', {"Content-Type": "application/json"}, 400, "bad_request"),
    ('{"headline": "  "}', {"Content-Type": "application/json"}, 400, "bad_request"),
    ('{"headline": "' + "x" * 501 + '"}', {"Content-Type": "application/json"}, 400, "bad_request"),
    (json.dumps({"headlines": ["a"] * 101}), {"Content-Type": "application/json"}, 400, "bad_request"),
    ('{"headline": "hi"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
])
def test_errors(client, contract, body, headers, status, code):
    answer = check(contract, "POST", "/v1/classify", client.call("POST", "/v1/classify", body, headers))
    assert answer[0] == status and answer[2]["error"]["code"] == code
    assert answer[2]["error"]["request_id"] == answer[1]["x-request-id"]


@pytest.mark.parametrize("chunked", [False, True])
def test_bodies_over_64_kib_are_413_at_the_front(client, contract, chunked):
    body = '{"headline": "' + "x" * (64 * 1024) + '"}'
    chunks = iter([body[i:i + 8192].encode() for i in range(0, len(body), 8192)]) if chunked else body
    answer = client.call("POST", "/v1/classify", chunks, {"Content-Type": "application/json"}, chunked=chunked)
    check(contract, "POST", "/v1/classify", answer)
    assert answer[0] == 413 and answer[2]["error"]["code"] == "payload_too_large"


def test_routing_errors(client, contract):
    answer = check(contract, "GET", "/v1/classify", client.call("GET", "/v1/classify"))
    assert answer[0] == 405 and answer[1]["allow"] == "POST, OPTIONS"
    answer = check(contract, "GET", "/nowhere", client.call("GET", "/nowhere?x=1"))
    assert answer[0] == 404


def test_health(client, contract):
    status, _, body = check(contract, "GET", "/v1/health", client.call("GET", "/v1/health"))
    assert status == 200
    assert body["status"] == "ok" and body["model"]["status"] == "InService"


def test_concurrent_requests(client):
    def one(i):
        return client.call("POST", "/v1/classify", {"headlines": [f"Stocks rally on day {i}", "Ebola vaccine trial"]})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(40)))
    assert all(status == 200 for status, _, _ in answers)


def test_nothing_leaks_into_the_environment(local_api):
    assert os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME") != local_api.endpoint_url
    assert os.environ.get("ENDPOINT_NAME") != "headlines-local"


def test_serve_local_blocks_serves_and_stops_cleanly(tiny_model_dir, sagemaker_python):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen([sys.executable, "-m", "headlines.local.api_front", "--model", str(tiny_model_dir),
                                "--port", str(port), "--workers", "1"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, text=True)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        model_line = ""
        while "model server" not in model_line:
            model_line = process.stdout.readline()
            assert model_line or process.poll() is None, "no model server line in the output"
        model_port = int(model_line.split("http://127.0.0.1:")[1].split()[0])
        log_dir = model_line.rsplit("log ", 1)[1].strip().rsplit("/logs/", 1)[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, body = client.call("POST", "/v1/classify", {"headline": "Fed raises interest rates again"})
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the local API did not come up"
                time.sleep(0.2)
        assert status == 200 and body["category"] in CATEGORIES
        java = int(open(os.path.join(log_dir, "model-server.pid")).read())
        assert Client(f"http://127.0.0.1:{model_port}").call("GET", "/ping")[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    with pytest.raises(OSError):  # the model server went with it
        Client(f"http://127.0.0.1:{model_port}").call("GET", "/ping")
    time.sleep(0.5)
    assert not os.path.exists(f"/proc/{java}"), "Multi Model Server's Java frontend outlived headlines serve"
    assert not os.path.exists(log_dir)


def test_a_busy_port_is_a_readable_error(local_api, tiny_model_dir):
    from headlines.local.api_front import LocalServeError, start_local_api

    with pytest.raises(LocalServeError, match="cannot listen"):
        start_local_api(tiny_model_dir, port=urlparse(local_api.url).port)


def test_a_killed_model_worker_is_replaced_under_load(local_api, client):
    """kill -9 of a model worker while requests run: the API answers 200 again within 20 s,
    nobody restarts anything, and MMS brings the worker back. (Last in this module: it
    leaves the shared endpoint as it found it, with all its workers.)"""
    server = local_api.model_server
    pids = server.worker_pids()
    parents = {pid: int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) for pid in pids}
    model_workers = [pid for pid, parent in parents.items() if parent in parents]
    assert len(model_workers) == server.workers, parents
    answers = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                status = client.call("POST", "/v1/classify", {"headline": "Fed raises interest rates again"})[0]
            except OSError:
                status = 0
            answers.append((time.monotonic(), status))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        os.kill(model_workers[0], signal.SIGKILL)
        deadline = killed_at + 20
        while time.monotonic() < deadline and not any(t > killed_at + 0.5 and s == 200 for t, s in answers):
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
    after = [status for t, status in answers if t > killed_at + 0.5]
    assert 200 in after, f"no 200 within 20 s after the kill: {after[:20]}"
    # MMS replaces the worker by itself.
    deadline = time.monotonic() + 120
    while len(server.worker_pids()) < len(pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(server.worker_pids()) == len(pids)
    assert model_workers[0] not in server.worker_pids()
    status, _, body = client.call("GET", "/v1/health")
    assert status == 200 and body["status"] == "ok"
