"""The page routes of the Lambda handler (GET /, GET /static/{file}) and the page's committed
copies: Swagger UI exactly as the pinned npm package ships it, the contract as JSON."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from api_support import REPO, Answer, LambdaContext, make_event

from devtools import page_assets

STATIC = ("page.js", "page.css", "openapi.json", "swagger-ui-bundle.js", "swagger-ui.css")


class PageAnswer(Answer):
    """A handler result whose body may be HTML, a script or a style sheet."""

    def __init__(self, result):
        text = result.get("body") or ""
        try:
            json.loads(text)
        except ValueError:
            super().__init__({**result, "body": ""})
            self.text, self.json = text, None
        else:
            super().__init__(result)


def invoke(module, event):
    return PageAnswer(module.handler(event, LambdaContext()))


def _get(app_module, path, query=None, request_path=None):
    event = make_event("GET", path, body=None, headers={})
    event["queryStringParameters"] = query
    if request_path is not None:
        event["requestContext"]["path"] = request_path
    return invoke(app_module, event)


def test_the_page_is_html_with_a_strict_content_security_policy(app_module):
    answer = _get(app_module, "/")
    assert answer.status == 200
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    assert answer.header("X-Request-Id") == "api-req-1"
    policy = dict(part.strip().split(" ", 1) for part in answer.header("Content-Security-Policy").split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in answer.header("Content-Security-Policy")
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("X-Frame-Options") == "DENY"
    assert answer.header("Referrer-Policy") == "no-referrer"
    assert answer.header("Cache-Control") == "no-cache"
    assert "POST v1/classify" in answer.text


class _Markup(HTMLParser):
    """What of the page's markup a CSP without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.scripts, self.stylesheets, self.inline, self.in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.inline += [f"{tag} {name}" for name in attributes if name == "style" or name.startswith("on")]
        if tag == "script":
            self.scripts.append(attributes.get("src"))
            self.in_script = True
        if tag == "style":
            self.inline.append("style element")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"])

    def handle_endtag(self, tag):
        self.in_script = self.in_script and tag != "script"

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.inline.append("inline script")


def test_the_page_has_no_inline_code_and_names_its_files_by_content_hash(app_module):
    markup = _Markup()
    markup.feed(_get(app_module, "/").text)
    assert markup.inline == []
    assert None not in markup.scripts
    versions = {}
    for reference in markup.scripts + markup.stylesheets:
        found = re.fullmatch(r"static/([\w.-]+)\?v=([0-9a-f]{16})", reference)
        assert found, reference  # relative: works under a stage path (/dev/) too
        versions[found.group(1)] = found.group(2)
    assert set(versions) == {"swagger-ui-bundle.js", "page.js", "swagger-ui.css", "page.css"}
    for name, version in versions.items():
        answer = _get(app_module, f"/static/{name}", {"v": version})
        assert answer.status == 200
        assert answer.header("Cache-Control") == "public, max-age=31536000, immutable"
        assert answer.header("ETag") == f'"{version}"'


@pytest.mark.parametrize("name", STATIC)
def test_every_static_file_is_served_with_its_type(app_module, name):
    answer = _get(app_module, f"/static/{name}")
    assert answer.status == 200
    media_type = answer.header("Content-Type").split(";")[0]
    assert media_type == {"js": "text/javascript", "css": "text/css", "json": "application/json"}[name.rsplit(".", 1)[1]]
    assert answer.header("Cache-Control") == "public, max-age=300"  # without the page's ?v=, a short cache
    assert answer.header("Content-Security-Policy") and answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("X-Request-Id") == "api-req-1"
    assert answer.text and not answer.raw.get("isBase64Encoded")  # text: no binary media types needed


def test_unknown_files_and_other_methods_get_the_contract_errors(app_module, contract):
    missing = _get(app_module, "/static/../app.py")
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found"
    other = _get(app_module, "/static/page.py")
    assert other.status == 404
    contract.validate("GET", "/static/{file}", 404, other.headers, other.json)
    posted = invoke(app_module, make_event("POST", "/", body={"headline": "x"}))
    assert posted.status == 405 and posted.header("Allow") == "GET, OPTIONS"
    assert posted.json["error"]["code"] == "method_not_allowed"
    deleted = invoke(app_module, make_event("DELETE", "/static/page.js", body=None, headers={}))
    assert deleted.status == 405


def test_the_stage_url_without_its_slash_redirects_to_the_page(app_module):
    # API Gateway: https://.../dev reaches GET / with requestContext.path "/dev"; the page's
    # relative links need the final slash.
    answer = _get(app_module, "/", request_path="/dev")
    assert answer.status == 308 and answer.header("Location") == "dev/"
    assert _get(app_module, "/", request_path="/dev/").status == 200


def test_the_json_api_is_unchanged_by_the_page(app_module):
    answer = invoke(app_module, make_event("GET", "/v1/classify", body=None, headers={}))
    assert answer.status == 405 and answer.header("Allow") == "POST, OPTIONS"
    assert invoke(app_module, make_event("GET", "/v2", body=None, headers={})).status == 404
    assert answer.header("Content-Security-Policy") is None  # the page's headers stay on the page


# --- the committed copies ----------------------------------------------------------------------
def test_package_json_pins_swagger_ui_exactly_and_the_lock_agrees():
    pinned = page_assets.pinned_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), pinned
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/swagger-ui-dist"]["version"] == pinned
    assert (page_assets.VENDOR_DIR / "VERSION").read_text() == f"swagger-ui-dist {pinned}\n"
    assert "Apache License" in (page_assets.VENDOR_DIR / "LICENSE").read_text()  # travels with the copy


def test_package_json_pins_chart_js_exactly_and_its_licenses_travel_with_the_copy():
    pinned = page_assets.pinned_version(page_assets.CHART_PACKAGE)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), pinned
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/chart.js"]["version"] == pinned
    version = (page_assets.CHART_VENDOR_DIR / "VERSION").read_text()
    assert version.startswith(f"chart.js {pinned} (with @kurkle/color {lock['packages']['node_modules/@kurkle/color']['version']})")
    assert "MIT License" in (page_assets.CHART_VENDOR_DIR / "LICENSE.md").read_text()
    assert "MIT License" in (page_assets.CHART_VENDOR_DIR / "LICENSE-kurkle-color").read_text()


def test_vendored_swagger_ui_is_the_pinned_npm_package_byte_for_byte():
    if not page_assets.NODE_PACKAGE_DIR.is_dir():
        pytest.skip("node_modules/swagger-ui-dist is missing (npm ci installs it; make test runs it)")
    assert page_assets.installed_version() == page_assets.pinned_version(), "run npm ci"
    stale = [str(path.relative_to(REPO)) for path, data in page_assets.expected_files().items()
             if not path.is_file() or path.read_bytes() != data]
    assert stale == [], f"run make page-assets: {stale}"


def test_the_pages_contract_is_api_openapi_yaml(app_module):
    assert page_assets.CONTRACT_COPY.read_text(encoding="utf-8") == page_assets.contract_json()
    document = json.loads(page_assets.CONTRACT_COPY.read_text(encoding="utf-8"))
    assert "post" in document["paths"]["/v1/classify"] and "get" in document["paths"]["/"]
    enum = document["paths"]["/static/{file}"]["get"]["parameters"][0]["schema"]["enum"]
    assert sorted(enum) == sorted(app_module.page.STATIC_FILES) == sorted(STATIC)


def test_page_module_imports_only_the_standard_library_and_powertools(app_module):
    source = app_module.page.__file__
    imports = {line.split()[1].split(".")[0] for line in open(source, encoding="utf-8")
               if line.startswith(("import ", "from "))}
    assert imports - {"__future__", "hashlib", "json", "re", "pathlib", "typing", "api_settings"} == {"aws_lambda_powertools"}


def test_the_served_contract_is_the_committed_copy_with_the_default_limits(app_module):
    answer = _get(app_module, "/static/openapi.json")
    assert answer.status == 200
    assert answer.text == page_assets.CONTRACT_COPY.read_text(encoding="utf-8")


def test_the_served_contract_states_the_configured_limits():
    from api_support import load_app

    module = load_app(MAX_HEADLINE_CHARS="321", MAX_BATCH_SIZE="7")
    schemas = _get(module, "/static/openapi.json").json["components"]["schemas"]
    assert schemas["Headline"]["maxLength"] == 321
    assert schemas["BatchRequest"]["properties"]["headlines"]["maxItems"] == 7
