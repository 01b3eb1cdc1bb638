"""The API's answers other than 200: the contract's error codes and its one error body,
``{"error": {"code", "message", "request_id"}}`` (api/openapi.yaml, ``Error``)."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

INTERNAL_ERROR_MESSAGE = "internal error; quote the request id when reporting it"
RETRY_AFTER_THROTTLED = 1
RETRY_AFTER_UNAVAILABLE = 5
RETRY_AFTER_MISCONFIGURED = 30


class ApiError(Exception):
    """An answer other than 200, with the contract's error code."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[int] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def response_headers(self) -> Dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def body(self, request_id: str) -> str:
        return error_body(self.code, self.message, request_id)


def error_body(code: str, message: str, request_id: str) -> str:
    document: Dict[str, Any] = {"error": {"code": code, "message": message, "request_id": request_id}}
    return json.dumps(document, separators=(",", ":"))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def payload_too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is larger than {max_bytes // 1024} KiB")


def internal_error() -> ApiError:
    return ApiError(500, "internal_error", INTERNAL_ERROR_MESSAGE)
