"""The OpenAPI document itself: valid, its examples follow its schemas, its limits are the
configured ones."""
from __future__ import annotations

import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from headlines.config import load_config


def _schema(contract, node):
    return {**contract._resolve(node), "components": contract.document["components"]}


def test_the_document_is_valid_openapi(contract):
    validate(contract.document)


def test_examples_follow_the_schemas(contract):
    checked = 0
    for _path, operations in contract.document["paths"].items():
        for _method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for example in body.get("examples", {}).values():
                    OAS30Validator(_schema(contract, body["schema"])).validate(example["value"])
                    checked += 1
            for _status, response in operation["responses"].items():
                media = contract._resolve(response).get("content", {}).get("application/json", {})
                for example in media.get("examples", {}).values():
                    OAS30Validator(_schema(contract, media["schema"])).validate(example["value"])
                    checked += 1
                if "example" in media:
                    OAS30Validator(_schema(contract, media["schema"])).validate(media["example"])
                    checked += 1
    assert checked >= 5


def test_limits_match_the_configuration(contract):
    api = load_config().api
    schemas = contract.document["components"]["schemas"]
    assert schemas["Headline"]["maxLength"] == api.max_headline_chars
    assert schemas["BatchRequest"]["properties"]["headlines"]["maxItems"] == api.max_batch_size


@pytest.mark.parametrize("text, valid", [
    ("a", True), ("\u200b", True), (" \u00a0x ", True),
    (" ", False), ("\t\n", False), ("\u3000", False), ("\ufeff", False), ("\u0085", False), ("\x1c\x1f", False),
])
def test_the_headline_pattern_is_the_same_in_python_and_ecmascript_terms(contract, text, valid):
    pattern = contract.document["components"]["schemas"]["Headline"]["pattern"]
    assert (re.search(pattern, text) is not None) == valid
    # what the model's input_fn strips (Python) is blank for the pattern too
    if not text.strip():
        assert re.search(pattern, text) is None
