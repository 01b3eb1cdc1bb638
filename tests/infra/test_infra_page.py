"""The page for people (GET / and GET /static/{file}) in the synthesized API: routes of the
same Lambda proxy, no API key for the page, text only (no binary media types), the contract's
operations exactly, and the page's files inside the function's asset."""
from __future__ import annotations

import pytest

from devtools.rehearsal import expected_routes

pytestmark = pytest.mark.xdist_group("infra")


def _resources(dev):
    resources = dev.resources(dev.serving_name, "AWS::ApiGateway::Resource")
    api = next(iter(dev.resources(dev.serving_name, "AWS::ApiGateway::RestApi")))
    paths = {api: "/"}
    pending = dict(resources)
    while pending:  # resolve each resource's full path from its parent chain
        for logical, resource in list(pending.items()):
            parent = resource["Properties"]["ParentId"]
            parent_id = parent.get("Ref") or (parent.get("Fn::GetAtt") or [None])[0]
            if parent_id in paths:
                base = paths[parent_id].rstrip("/")
                paths[logical] = f"{base}/{resource['Properties']['PathPart']}"
                del pending[logical]
    return paths


def _routes(dev):
    paths = _resources(dev)
    routes = {}
    for method in dev.resources(dev.serving_name, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        logical = resource.get("Ref") or resource["Fn::GetAtt"][0]
        routes[(props["HttpMethod"], paths[logical])] = props
    return routes


def test_the_page_routes_go_to_the_api_function_without_an_api_key(dev):
    routes = _routes(dev)
    handler = next(name for name, f in dev.resources(dev.serving_name, "AWS::Lambda::Function").items()
                   if f["Properties"].get("Handler") == "app.handler")
    for route in (("GET", "/"), ("GET", "/static/{file}")):
        props = routes[route]
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert handler in str(props["Integration"]["Uri"])
        assert props["ApiKeyRequired"] is False
        assert props["AuthorizationType"] == "NONE"
    assert routes[("GET", "/static/{file}")]["RequestParameters"] == {"method.request.path.file": True}
    assert "RequestValidatorId" in routes[("GET", "/static/{file}")]


def test_the_gateway_serves_exactly_the_contracts_operations(dev):
    served = {route for route in _routes(dev) if route[0] != "OPTIONS"}  # CORS preflights are extra
    assert served == expected_routes()
    assert ("GET", "/") in served


def test_the_page_is_text_so_the_api_declares_no_binary_media_types(dev):
    (api,) = dev.resources(dev.serving_name, "AWS::ApiGateway::RestApi").values()
    assert "BinaryMediaTypes" not in api["Properties"]


def test_the_function_asset_carries_the_page(dev):
    function = next(f for f in dev.resources(dev.serving_name, "AWS::Lambda::Function").values()
                    if f["Properties"].get("Handler") == "app.handler")
    asset_hash = function["Properties"]["Code"]["S3Key"].split(".")[0]  # <hash>.zip, staged as asset.<hash>/
    asset = next(path for path in dev.outdir.rglob(f"asset.{asset_hash}") if path.is_dir())
    for name in ("app.py", "page.py", "web/index.html", "web/page.js", "web/page.css", "web/openapi.json",
                 "web/vendor/swagger-ui/swagger-ui-bundle.js", "web/vendor/swagger-ui/swagger-ui.css",
                 "web/vendor/swagger-ui/LICENSE"):
        assert (asset / name).is_file(), name
