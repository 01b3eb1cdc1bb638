"""One source for the API's request limits: cdk.json's ``headlines.api`` (max_headline_chars,
max_batch_size). The committed contract states its defaults; every runtime place reads the
configured values: the Lambda (its environment, set by infra/api_function.py and the local front), the
served contract (the page), the model container (HEADLINES_MAX_CHARS / HEADLINES_MAX_BATCH, set
by infra/serving.py and the local endpoint), which takes exactly the API's limits."""
from __future__ import annotations

import itertools
import json

import pytest
import yaml

from headlines.config import load_config
from headlines.file_modules import load_file_module
from headlines.local import container_env
from headlines.local.api_front import handler_environment, patched_environ
from headlines.project import CDK_JSON, INFERENCE_DIR, OPENAPI_PATH

INFERENCE = INFERENCE_DIR / "inference.py"
_loads = itertools.count(1)


def _cdk_json_api():
    return json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]["headlines"]["api"]


def test_the_committed_contract_states_cdk_json_defaults():
    api = _cdk_json_api()
    schemas = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))["components"]["schemas"]
    assert schemas["Headline"]["maxLength"] == api["max_headline_chars"]
    assert schemas["BatchRequest"]["properties"]["headlines"]["maxItems"] == api["max_batch_size"]


def test_the_local_front_gives_the_handler_the_configured_limits():
    api = load_config().api
    env = handler_environment("http://127.0.0.1:9")
    assert (env["MAX_HEADLINE_CHARS"], env["MAX_BATCH_SIZE"]) == (str(api.max_headline_chars), str(api.max_batch_size))


def test_the_local_endpoint_gives_the_container_the_api_limits(tmp_path):
    if container_env.available():
        pytest.skip(container_env.available())
    from headlines.local.endpoint import container_environment

    api = load_config().api
    env = container_environment(tmp_path, 20001, 1)
    assert env["HEADLINES_MAX_CHARS"] == str(api.max_headline_chars)
    assert env["HEADLINES_MAX_BATCH"] == str(api.max_batch_size)


def _inference(**environment):
    with patched_environ(environment):
        return load_file_module(f"headlines_test_inference_{next(_loads)}", INFERENCE)


def test_inference_takes_its_limits_from_the_environment():
    module = _inference(HEADLINES_MAX_CHARS="5", HEADLINES_MAX_BATCH="2")
    assert module.input_fn(b'["abcde", "x"]', "application/json") == ["abcde", "x"]
    for body, message in ((b'["abcdef"]', "headline 0 is longer than 5 characters"),
                          (b'["a", "b", "c"]', "too many headlines: 3 (at most 2)")):
        with pytest.raises(module.ClientError) as raised:
            module.input_fn(body, "application/json")
        assert str(raised.value) == message and raised.value.status_code == 400


def test_inference_outside_an_endpoint_has_no_limit():
    module = _inference(HEADLINES_MAX_CHARS=None, HEADLINES_MAX_BATCH=None)
    assert len(module.input_fn(json.dumps(["x" * 5000] * 1500).encode(), "application/json")) == 1500


@pytest.mark.parametrize("value", ["many", "0", "-3"])
def test_a_misconfigured_container_refuses_to_load(value):
    with pytest.raises(ValueError, match=f"HEADLINES_MAX_BATCH={value!r} must be a whole number"):
        _inference(HEADLINES_MAX_BATCH=value)
