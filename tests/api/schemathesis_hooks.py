"""Extra schemathesis checks for the API (loaded through SCHEMATHESIS_HOOKS by test_fuzz.py).

The built-in checks cover status codes, content types and schemas; these add the contract's
own rules: every response carries X-Request-Id, errors repeat it, nothing looks like a stack
trace, and a 5xx never answers anything.
"""
import json

import schemathesis


def _header(response, name):
    values = response.headers.get(name.lower()) or []
    return values[0] if isinstance(values, list) and values else values or None


@schemathesis.check
def request_id_everywhere(ctx, response, case):
    """Every response has X-Request-Id; an error body repeats it."""
    request_id = _header(response, "X-Request-Id")
    if not request_id:
        raise AssertionError("response without X-Request-Id")
    if response.status_code >= 400 and response.content:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError("error body is not JSON") from None
        if body.get("error", {}).get("request_id") != request_id:
            raise AssertionError("error body's request_id differs from X-Request-Id")


@schemathesis.check
def no_stack_traces(ctx, response, case):
    # The page's scripts and style sheets are committed files (Swagger UI's bundle names
    # exceptions), not answers the API composed.
    if str(_header(response, "Content-Type") or "").split(";")[0].strip() in ("text/javascript", "text/css"):
        return
    text = response.content.decode("utf-8", "replace")
    for marker in ("Traceback (most recent call last)", 'File "/', "botocore.exceptions", "Exception:"):
        if marker in text:
            raise AssertionError(f"response body looks like a stack trace ({marker!r})")


@schemathesis.check
def no_server_errors_at_all(ctx, response, case):
    """The loopback API has a healthy model behind it: any 5xx is a bug, not an outage."""
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.content[:300]!r}")
