"""The local endpoint server: the serving-container contract (/ping, /invocations) and the
SageMaker Runtime / control-plane shapes that boto3 clients see through it."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time

import boto3
import pytest
from botocore.config import Config

from headlines.endpoint_server import load_inference_module, make_endpoint_server, start_endpoint_server, start_in_thread


@pytest.fixture(scope="module")
def fake_server(fake_model_dir):
    server, port, stop = start_endpoint_server(fake_model_dir, endpoint_name="local-test")
    yield server
    stop()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_ping(fake_server):
    status, headers, body = request(fake_server.port, "GET", "/ping")
    assert status == 200


@pytest.mark.parametrize("body, content_type, count", [
    (b'{"headline": "one"}', "application/json", 1),
    (b'{"headlines": ["one", "two"]}', "application/json", 2),
    (b'["one", "two", "three"]', "application/json", 3),
    (b"one\ntwo\n", "text/csv", 2),
    (b"one\ntwo\nthree", "text/plain", 3),
])
def test_invocations(fake_server, body, content_type, count):
    status, headers, payload = request(fake_server.port, "POST", "/invocations", body,
                                       {"Content-Type": content_type, "Accept": "application/json"})
    assert status == 200, payload
    assert headers["Content-Type"] == "application/json"
    assert len(json.loads(payload)["predictions"]) == count


def test_client_errors_keep_their_status_and_message(fake_server):
    status, _, payload = request(fake_server.port, "POST", "/invocations", b'{"headline": "__bad__"}',
                                 {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(payload)["message"] == "the model refuses this headline"


def test_unexpected_errors_are_500_without_a_traceback(fake_server):
    status, _, payload = request(fake_server.port, "POST", "/invocations", b'{"headline": "__boom__"}',
                                 {"Content-Type": "application/json"})
    assert status == 500
    assert b"secret" not in payload and b"Traceback" not in payload


def test_unknown_routes(fake_server):
    assert request(fake_server.port, "GET", "/nope")[0] == 404
    assert request(fake_server.port, "POST", "/nope", b"{}")[0] == 404


def test_keep_alive_and_chunked_bodies(fake_server):
    conn = http.client.HTTPConnection("127.0.0.1", fake_server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("POST", "/invocations", body=iter([b'{"headlines": ', b'["a", "b"]}']),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            response = conn.getresponse()
            assert response.status == 200
            assert len(json.loads(response.read())["predictions"]) == 2
        sock = conn.sock
        conn.request("GET", "/ping")
        assert conn.getresponse().read() and conn.sock is sock  # one connection throughout
    finally:
        conn.close()


def test_payloads_over_the_sagemaker_limit_are_413(fake_server):
    status, headers, _ = request(fake_server.port, "POST", "/invocations", b"x" * (6 * 1024 * 1024 + 1),
                                 {"Content-Type": "text/plain"})
    assert status == 413


def _client(service, port):
    return boto3.session.Session().client(
        service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_boto3_invoke_endpoint(fake_server):
    runtime = _client("sagemaker-runtime", fake_server.port)
    answer = runtime.invoke_endpoint(EndpointName="local-test", ContentType="application/json",
                                     Accept="application/json", Body=b'{"headlines": ["a", "bb"]}')
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert len(json.loads(answer["Body"].read())["predictions"]) == 2


def test_boto3_model_error_shape(fake_server):
    runtime = _client("sagemaker-runtime", fake_server.port)
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(EndpointName="local-test", ContentType="application/json",
                                Body=b'{"headline": "__bad__"}')
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"] == "the model refuses this headline"
    assert response["LogStreamArn"].startswith("arn:aws:logs:")


def test_boto3_unknown_endpoint(fake_server):
    runtime = _client("sagemaker-runtime", fake_server.port)
    with pytest.raises(runtime.exceptions.ValidationError) as caught:
        runtime.invoke_endpoint(EndpointName="other", ContentType="application/json", Body=b"{}")
    assert "Endpoint other of account" in str(caught.value)


def test_boto3_describe_endpoint(fake_server):
    control = _client("sagemaker", fake_server.port)
    description = control.describe_endpoint(EndpointName="local-test")
    assert description["EndpointStatus"] == "InService"
    assert description["EndpointName"] == "local-test"
    with pytest.raises(control.exceptions.ClientError) as caught:
        control.describe_endpoint(EndpointName="other")
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_loading_errors_are_plain(tmp_path):
    with pytest.raises(FileNotFoundError, match="code/inference.py"):
        make_endpoint_server(tmp_path)


def test_model_is_loaded_once(fake_model_dir):
    module = load_inference_module(fake_model_dir)
    calls = []
    original = module.model_fn
    module.model_fn = lambda model_dir: calls.append(model_dir) or original(model_dir)
    try:
        server = make_endpoint_server(fake_model_dir)
        stop = start_in_thread(server)
        for _ in range(3):
            assert request(server.port, "POST", "/invocations", b'["a"]', {"Content-Type": "application/json"})[0] == 200
        stop()
    finally:
        module.model_fn = original
    assert len(calls) == 1


def test_port_zero_binds_a_free_port(fake_model_dir):
    server, port, stop = start_endpoint_server(fake_model_dir)
    try:
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        stop()


# --- with the real model (the lead's tiny trained artifact) ---------------------------------
CATEGORIES = {"business", "science_technology", "entertainment", "health"}


@pytest.fixture(scope="module")
def real_server(tiny_model_dir):
    server, port, stop = start_endpoint_server(tiny_model_dir)
    yield server
    stop()


@pytest.mark.slow
@pytest.mark.parametrize("body, content_type, count", [
    (b'{"headline": "Fed raises interest rates again"}', "application/json", 1),
    (b'{"headlines": ["Fed raises interest rates again", "New Ebola case confirmed"]}', "application/json", 2),
    (b'["Apple unveils a new iPhone"]', "application/json", 1),
    (b"Fed raises rates\nKim Kardashian wedding\n", "text/csv", 2),
    (b"Fed raises rates\nKim Kardashian wedding", "text/plain", 2),
])
def test_real_model_contract(real_server, body, content_type, count):
    status, headers, payload = request(real_server.port, "POST", "/invocations", body,
                                       {"Content-Type": content_type, "Accept": "application/json"})
    assert status == 200, payload
    answer = json.loads(payload)
    assert len(answer["predictions"]) == count
    for prediction in answer["predictions"]:
        assert prediction["category"] in CATEGORIES
        assert set(prediction["scores"]) == CATEGORIES
        assert abs(sum(prediction["scores"].values()) - 1) < 1e-3
        assert prediction["confidence"] == max(prediction["scores"].values())
    assert answer["model"]["version"]


@pytest.mark.slow
def test_real_model_is_deterministic(real_server):
    body = b'{"headlines": ["Fed raises interest rates again", "Ebola outbreak spreads"]}'
    answers = {request(real_server.port, "POST", "/invocations", body, {"Content-Type": "application/json"})[2]
               for _ in range(3)}
    assert len(answers) == 1


@pytest.mark.slow
@pytest.mark.parametrize("body, content_type", [
    (b"{broken", "application/json"),
    (b'{"nothing": 1}', "application/json"),
    (b"\xff\xfe", "text/plain"),
    (b'{"headline": "x"}', "application/x-unknown"),
])
def test_real_model_rejects_bad_payloads_as_client_errors(real_server, body, content_type):
    status, _, payload = request(real_server.port, "POST", "/invocations", body, {"Content-Type": content_type})
    assert 400 <= status < 500, payload
    assert b"Traceback" not in payload


# --- worker processes (as the SageMaker model server: one per CPU) ---------------------------
def test_worker_processes_share_one_port(fake_model_dir):
    from headlines.api_front import _stop_process, spawn_endpoint_process

    process, port = spawn_endpoint_process(fake_model_dir, endpoint_name="local-test", workers=2)
    try:
        pids = set()
        for _ in range(40):
            status, headers, _ = request(port, "POST", "/endpoints/local-test/invocations", b'["a"]',
                                         {"Content-Type": "application/json"})
            assert status == 200
            pids.add(headers["x-amzn-RequestId"].split("-")[1])
        assert len(pids) == 2
    finally:
        _stop_process(process)
    assert process.returncode == 0
    for pid in pids:
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}"), "a worker outlived its supervisor"


def test_a_model_that_fails_to_load_is_a_readable_error(tmp_path):
    from headlines.api_front import LocalServeError, spawn_endpoint_process

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def model_fn(model_dir):\n    raise ValueError('no weights')\n")
    with pytest.raises(LocalServeError, match="exited"):
        spawn_endpoint_process(tmp_path, workers=2, timeout=60)


# --- opportunistic batching ------------------------------------------------------------------
def _slow_first_call(service, seconds=0.3):
    original = service._predict_fn
    calls = []

    def predict(data, model):
        calls.append(list(data))
        if len(calls) == 1:
            time.sleep(seconds)  # the others queue meanwhile
        return original(data, model)

    service._predict_fn = predict
    return calls


def test_batching_merges_queued_requests_and_splits_answers(fake_model_dir):
    from concurrent.futures import ThreadPoolExecutor

    from headlines.endpoint_server import ModelService

    service = ModelService(fake_model_dir, batching=True)
    calls = _slow_first_call(service)
    bodies = [json.dumps({"headlines": ["x" * (i + 1)] * (i % 3 + 1)}).encode() for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(service.invoke, bodies[0], "application/json", "application/json")
        time.sleep(0.05)
        rest = [pool.submit(service.invoke, body, "application/json", "application/json") for body in bodies[1:]]
        answers = [first.result()] + [future.result() for future in rest]
    assert len(calls) == 2  # the first alone, then the seven that queued, in one pass
    for body, (payload, _) in zip(bodies, answers):
        sent = json.loads(body)["headlines"]
        got = json.loads(payload)["predictions"]
        assert len(got) == len(sent)
        # the fake model's label depends on the length of the text: each got its own
        assert [p["label"] for p in got] == [["b", "t", "e", "m"][len(t) % 4] for t in sent]


def test_batching_keeps_errors_with_their_request(fake_model_dir):
    from concurrent.futures import ThreadPoolExecutor

    from headlines.endpoint_server import ModelInvocationError, ModelService

    service = ModelService(fake_model_dir, batching=True)
    _slow_first_call(service)
    bodies = [b'["warm"]', b'["fine one"]', b'["__boom__"]', b'["__bad__"]', b'["fine two"]']
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(service.invoke, bodies[0], "application/json", "application/json")]
        time.sleep(0.05)
        futures += [pool.submit(service.invoke, body, "application/json", "application/json") for body in bodies[1:]]
        outcomes = []
        for future in futures:
            try:
                outcomes.append(future.result()[0])
            except ModelInvocationError as error:
                outcomes.append(error.status_code)
    assert outcomes[2] == 500 and outcomes[3] == 400
    assert all(isinstance(outcome, bytes) for i, outcome in enumerate(outcomes) if i not in (2, 3))


def test_batching_is_off_in_process_by_default(fake_model_dir):
    from headlines.endpoint_server import ModelService

    assert ModelService(fake_model_dir).batching is False


@pytest.mark.slow
def test_real_model_batched_scores_match_single_calls(tiny_model_dir):
    """With batching, a headline's answer is the single-call answer up to the last digit."""
    from concurrent.futures import ThreadPoolExecutor

    from headlines.endpoint_server import ModelService

    plain = ModelService(tiny_model_dir)
    batched = ModelService(tiny_model_dir, batching=True)
    headlines = [f"Stocks rally as the Fed holds rates, day {i}" for i in range(16)] + \
                ["Ebola outbreak spreads", "Apple unveils iPhone", "Kim Kardashian wedding"]
    bodies = [json.dumps({"headline": h}).encode() for h in headlines]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: batched.invoke(b, "application/json", "application/json")[0], bodies))
    for body, answer in zip(bodies, answers):
        single = json.loads(plain.invoke(body, "application/json", "application/json")[0])["predictions"][0]
        got = json.loads(answer)["predictions"][0]
        assert got["category"] == single["category"]
        assert got["scores"] == pytest.approx(single["scores"], abs=2e-6)
