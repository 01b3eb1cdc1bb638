"""The classify request's body as API Gateway hands it over: bytes, before any JSON.

Checked before Powertools routes the event: its request validation (``enable_validation``)
runs first in the middleware chain and picks its parser by ``Content-Type`` (curl's default
form type would be parsed as a form, ``application/*+json`` refused, a multipart type parsed as
multipart), and decodes base64 without catching a bad encoding. So this module checks, in the
order the contract answers them: a body at all (400), its size (413), a JSON media type (415),
base64 and UTF-8 (400); and hands Powertools the event with the body as UTF-8 text and
``Content-Type: application/json``, which its validation then parses and checks.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, List, Mapping, Optional

from api_errors import ApiError, bad_request, payload_too_large

MAX_BODY_BYTES = 64 * 1024
ACCEPTED_MEDIA_TYPES = (
    "application/json",
    # curl -d sends this by default; the body must still be JSON.
    "application/x-www-form-urlencoded",
)
JSON_MEDIA_TYPE = "application/json"


def header(event: Mapping[str, Any], name: str) -> Optional[str]:
    """A request header, by case-insensitive name (API Gateway keeps the client's spelling)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def check_media_type(content_type: Optional[str]) -> None:
    if not content_type:
        return  # no Content-Type: taken as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ACCEPTED_MEDIA_TYPES or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    raise ApiError(415, "unsupported_media_type", f"Content-Type {media_type!r} is not supported: send application/json")


def body_bytes(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body")
    if raw is None:
        raise bad_request("a JSON body is required")
    if event.get("isBase64Encoded"):
        if len(raw) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise payload_too_large(MAX_BODY_BYTES)
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("the request body is not valid base64") from None
    else:
        body = str(raw).encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise payload_too_large(MAX_BODY_BYTES)
    return body


def _with_json_content_type(headers: Optional[Mapping[str, Any]], value: Any) -> Dict[str, Any]:
    kept = {key: item for key, item in (headers or {}).items() if key.lower() != "content-type"}
    kept["Content-Type"] = value
    return kept


def canonical_event(event: Mapping[str, Any]) -> Dict[str, Any]:
    """``event`` with its body as UTF-8 text and a JSON Content-Type; ApiError if the body
    cannot be a JSON request (missing, too large, another media type, bad base64 or UTF-8)."""
    body = body_bytes(event)
    check_media_type(header(event, "content-type"))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the request body is not UTF-8") from None
    canonical = dict(event)
    canonical.update(body=text, isBase64Encoded=False,
                     headers=_with_json_content_type(event.get("headers"), JSON_MEDIA_TYPE))
    if isinstance(event.get("multiValueHeaders"), Mapping):
        multi: List[str] = [JSON_MEDIA_TYPE]
        canonical["multiValueHeaders"] = _with_json_content_type(event["multiValueHeaders"], multi)
    return canonical
