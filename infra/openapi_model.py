"""API Gateway request models derived from the OpenAPI contract (api/openapi.yaml).

API Gateway validates request bodies against JSON Schema draft 4 models without ``$ref``s
to ``#/components``: this module inlines the references of a component schema and turns it
into CDK's typed ``JsonSchema``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import yaml
from aws_cdk import aws_apigateway as apigw

from headlines.project import OPENAPI_PATH

_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "array": apigw.JsonSchemaType.ARRAY,
    "string": apigw.JsonSchemaType.STRING,
    "integer": apigw.JsonSchemaType.INTEGER,
    "number": apigw.JsonSchemaType.NUMBER,
    "boolean": apigw.JsonSchemaType.BOOLEAN,
    "null": apigw.JsonSchemaType.NULL,
}
# OpenAPI keyword -> JsonSchema keyword argument (the ones the contract's request schemas use).
_SCALARS = {
    "title": "title",
    "description": "description",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique_items",
    "minimum": "minimum",
    "maximum": "maximum",
    "required": "required",
    "enum": "enum",
    "format": "format",
    "minProperties": "min_properties",
    "maxProperties": "max_properties",
}
_UNSUPPORTED_OPENAPI = ("nullable", "discriminator", "readOnly", "writeOnly", "example", "examples", "xml", "externalDocs", "deprecated")


def load_openapi(path: Path = OPENAPI_PATH) -> Dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def inline_schema(spec: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """The component schema ``name`` with every ``$ref`` replaced by its target (a plain dict)."""
    components = spec["components"]["schemas"]

    def resolve(node: Any, seen: tuple) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                prefix = "#/components/schemas/"
                if not ref.startswith(prefix):
                    raise ValueError(f"unsupported $ref {ref}")
                target = ref[len(prefix):]
                if target in seen:
                    raise ValueError(f"recursive schema {target} cannot be inlined")
                return resolve(copy.deepcopy(components[target]), seen + (target,))
            return {key: resolve(value, seen) for key, value in node.items() if key not in _UNSUPPORTED_OPENAPI}
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        return node

    return resolve(copy.deepcopy(components[name]), (name,))


def to_json_schema(node: Mapping[str, Any], *, root: bool = True) -> apigw.JsonSchema:
    """A draft-4 ``JsonSchema`` from a plain (already inlined) schema dict."""
    kwargs: Dict[str, Any] = {}
    if root:
        kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
    for key, value in node.items():
        if key == "type":
            kwargs["type"] = _TYPES[value]
        elif key in _SCALARS:
            kwargs[_SCALARS[key]] = value
        elif key == "properties":
            kwargs["properties"] = {name: to_json_schema(sub, root=False) for name, sub in value.items()}
        elif key == "items":
            kwargs["items"] = to_json_schema(value, root=False)
        elif key == "additionalProperties":
            kwargs["additional_properties"] = value if isinstance(value, bool) else to_json_schema(value, root=False)
        elif key in ("oneOf", "anyOf", "allOf"):
            kwargs[{"oneOf": "one_of", "anyOf": "any_of", "allOf": "all_of"}[key]] = [
                to_json_schema(sub, root=False) for sub in value
            ]
        elif key == "not":
            kwargs["not_"] = to_json_schema(value, root=False)
        else:
            raise ValueError(f"schema keyword {key!r} is not supported by the API Gateway model converter")
    return apigw.JsonSchema(**kwargs)


def classify_request(max_headline_chars: Optional[int] = None, max_batch_size: Optional[int] = None) -> Dict[str, Any]:
    """The contract's ``ClassifyRequest``, inlined; the two size limits follow the config.

    The contract states the defaults (500 characters, 100 headlines); a deployment that raises
    them in config must not have the gateway reject what the Lambda would accept.
    """
    schema = inline_schema(load_openapi(), "ClassifyRequest")

    def patch(node: Any) -> None:
        if isinstance(node, dict):
            if max_headline_chars is not None and node.get("type") == "string" and "maxLength" in node:
                node["maxLength"] = int(max_headline_chars)
            if max_batch_size is not None and node.get("type") == "array" and "maxItems" in node:
                node["maxItems"] = int(max_batch_size)
            for value in node.values():
                patch(value)
        elif isinstance(node, list):
            for item in node:
                patch(item)

    patch(schema)
    schema.setdefault("title", "ClassifyRequest")
    return schema
