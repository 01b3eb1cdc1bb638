"""The page for people at ``GET /``: the API reference (Swagger UI, vendored), a try-it box and
the model's identity, served by the API's own Lambda handler.

Routes (documented in ``api/openapi.yaml``):

- ``GET /`` the page (``web/index.html``);
- ``GET /static/{file}`` its files: the page's script and styles, Swagger UI's bundle and
  styles (``web/vendor/swagger-ui/``, copied from the npm package pinned in package.json) and
  the contract as JSON (``web/openapi.json``, generated from ``api/openapi.yaml``), served with
  this deployment's request limits in place of the defaults the committed contract states.

Everything is read once per execution environment (a cold start) from ``web/`` next to this
file, which is where it is in the Lambda asset and in the repository alike. The HTML names each
static file with a ``?v=`` content hash, so the files can be cached for a year and a new
deployment is never mixed with an old cached script.

Every answer carries a Content-Security-Policy that allows only this origin's own scripts,
styles and API calls (no inline script or style, no other origin, no framing), plus the usual
security headers. Dependencies: Powertools' ``Response`` (already the API's), nothing else.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from api_settings import Limits
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

WEB_DIR = Path(__file__).resolve().with_name("web")
# name under /static/ -> (file under web/, media type). Text only: API Gateway passes these
# through without binary media types, and the JSON API's request handling stays as it is.
STATIC_FILES: Dict[str, Tuple[str, str]] = {
    "page.js": ("page.js", "text/javascript; charset=utf-8"),
    "page.css": ("page.css", "text/css; charset=utf-8"),
    "openapi.json": ("openapi.json", "application/json"),
    "swagger-ui-bundle.js": ("vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("vendor/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
}
STATIC_PREFIX = "/static/"

# Swagger UI sets styles through the DOM (element.style), which CSP's style-src does not
# govern; its icons are data: SVGs in its stylesheet, hence img-src data:.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Strict-Transport-Security": "max-age=31536000",
}
_VERSION_SLOT = re.compile(r"\{\{version:([A-Za-z0-9._-]+)\}\}")
CONTRACT_FILE = "openapi.json"


def served_contract(text: str, limits: Limits) -> str:
    """The contract as JSON with ``limits`` where the committed copy has the defaults (the
    same two numbers the gateway's request model takes from the configuration)."""
    document = json.loads(text)
    schemas = document["components"]["schemas"]
    schemas["Headline"]["maxLength"] = limits.max_headline_chars
    schemas["BatchRequest"]["properties"]["headlines"]["maxItems"] = limits.max_batch_size
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


class _Files:
    """The page's files, read and hashed on first use (one cold start)."""

    def __init__(self, limits: Limits, root: Path = WEB_DIR):
        self.root = root
        self.limits = limits
        self._static: Optional[Dict[str, Tuple[str, str, str]]] = None
        self._index: Optional[str] = None

    def static(self) -> Dict[str, Tuple[str, str, str]]:
        """name -> (text, media type, content hash)."""
        if self._static is None:
            loaded = {}
            for name, (relative, media_type) in STATIC_FILES.items():
                text = (self.root / relative).read_text(encoding="utf-8")
                if name == CONTRACT_FILE:
                    text = served_contract(text, self.limits)
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
                loaded[name] = (text, media_type, digest)
            self._static = loaded
        return self._static

    def index(self) -> str:
        if self._index is None:
            static = self.static()
            template = (self.root / "index.html").read_text(encoding="utf-8")
            # Two kinds of slot do not justify a template engine (the Lambda runtime has none).
            self._index = _VERSION_SLOT.sub(lambda match: static[match.group(1)][2], template)
        return self._index


def allowed_methods(path: str) -> Optional[Tuple[str, ...]]:
    """The methods of a page route (for the API's 405 answer), None for other paths."""
    if path == "/" or (path.startswith(STATIC_PREFIX) and path[len(STATIC_PREFIX):] in STATIC_FILES):
        return ("GET",)
    return None


def _slash_redirect(event: Any) -> Optional[Response]:
    """``/dev`` (the stage without a slash) would resolve the page's relative links against
    the host's root: send the browser to ``dev/`` first. ``requestContext.path`` is the path
    as the client sent it, stage (or custom domain base path) included."""
    sent = ((event.get("requestContext") or {}).get("path") or "/")
    if sent.endswith("/"):
        return None
    last = sent.rsplit("/", 1)[-1]
    return Response(status_code=308, content_type="text/plain; charset=utf-8", body=f"see {last}/",
                    headers={"Location": f"{last}/", "Cache-Control": "no-cache", **SECURITY_HEADERS})


def add_routes(app: Any, limits: Limits) -> None:
    """Register ``GET /`` and ``GET /static/<name>`` on the API's resolver; the contract it
    serves states ``limits``."""
    files = _Files(limits)

    @app.get("/")
    def page() -> Response[str]:
        redirect = _slash_redirect(app.current_event)
        if redirect is not None:
            return redirect
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=files.index(),
                        headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    @app.get("/static/<name>")
    def static(name: str) -> Response[str]:
        found = files.static().get(name)
        if found is None:
            raise NotFoundError(name)
        text, media_type, digest = found
        versioned = (app.current_event.query_string_parameters or {}).get("v") == digest
        cache = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
        return Response(status_code=200, content_type=media_type, body=text,
                        headers={"Cache-Control": cache, "ETag": f'"{digest}"', **SECURITY_HEADERS})
