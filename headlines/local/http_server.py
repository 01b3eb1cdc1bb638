"""The HTTP layer of the local stand-ins (the API front, the SageMaker runtime API).

Why the standard library's ``http.server`` and not an ASGI server: the stand-ins must answer
every malformed request with the contract's JSON error (uvicorn/h11 answer some of them with
plain text and have no deadline for reading a request), and they stay free of an event loop
that the Lambda handler (synchronous boto3) would only block. ``http.server`` parses the
request line and headers; what it does not do, the body (``Content-Length`` or chunked) and a
deadline, is here, strictly: anything malformed is a 400 JSON answer, then the connection is
closed.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

LOG = logging.getLogger("headlines.local.http_server")

# A client has this long to send one whole request (line, headers and body) once it started
# it; an idle keep-alive connection is closed after IDLE_SECONDS.
REQUEST_DEADLINE_SECONDS = 10.0
IDLE_SECONDS = 60.0
_CHUNK_SIZE_DIGITS = 16


class RequestTimeout(Exception):
    """The client did not send its request within the deadline."""


class MalformedRequest(Exception):
    """A body that is not valid HTTP/1.1 framing."""


class _Deadlines:
    """One thread for every connection's request deadline (a timer thread per request would
    cost a thread start each time); checked every 50 ms."""

    interval = 0.05

    def __init__(self) -> None:
        self._due: Dict[Any, float] = {}
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def add(self, handler: "FastHandler", seconds: float) -> None:
        with self._lock:
            self._due[handler] = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-deadlines", daemon=True)
                self._thread.start()

    def remove(self, handler: "FastHandler") -> None:
        with self._lock:
            self._due.pop(handler, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            now = time.monotonic()
            with self._lock:
                expired = [handler for handler, due in self._due.items() if due <= now]
                for handler in expired:
                    del self._due[handler]
            for handler in expired:
                handler.expire()


_deadlines = _Deadlines()


class FastHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, Nagle off, one write per response, no access log, a deadline per
    request, strict body framing."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_SECONDS
    request_deadline_seconds = REQUEST_DEADLINE_SECONDS
    server_version = "headlines-local"
    sys_version = ""
    max_body_bytes = 6 * 1024 * 1024
    drain_limit_bytes = 24 * 1024 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    # --- the deadline: past it, the reading side is shut and the client gets a 408 ---------------
    def handle_one_request(self) -> None:
        self._timed_out = False
        self.connection.settimeout(self.timeout)
        try:
            first = self.rfile.peek(1)[:1] if hasattr(self.rfile, "peek") else b"x"
        except (socket.timeout, OSError):
            self.close_connection = True
            return
        if not first:
            self.close_connection = True
            return
        # From the first byte on, the whole request must arrive within the deadline.
        _deadlines.add(self, self.request_deadline_seconds)
        try:
            super().handle_one_request()
        except (socket.timeout, ConnectionError):
            self.close_connection = True
        finally:
            self.request_done()

    def expire(self) -> None:
        self._timed_out = True
        try:
            self.connection.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def request_done(self) -> None:
        """The request is read: stop its deadline (the answer may take as long as it takes)."""
        _deadlines.remove(self)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self._timed_out:
            self.send_timeout()
            return False
        return ok

    def send_timeout(self) -> None:
        self.send_error_body(408, f"the request was not received within {self.request_deadline_seconds:g} s",
                             close=True)

    # --- answers ----------------------------------------------------------------------------
    def send(self, status: int, body: bytes = b"", content_type: Optional[str] = "application/json",
             headers: Optional[Dict[str, str]] = None, close: bool = False) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if close or self._timed_out:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.wfile.write(head + body if self.command != "HEAD" else head)
        except OSError:  # the client went away
            self.close_connection = True

    def send_error_body(self, status: int, message: str, close: bool = False) -> None:
        self.send(status, json.dumps({"code": status, "message": message}).encode("utf-8"), close=close)

    # The standard library's own errors (bad request line, headers too long, unknown method).
    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        if self._timed_out:
            self.send_timeout()
            return
        self.send_error_body(code if 400 <= code < 600 else 400, message or "malformed HTTP request", close=True)

    def send_too_large(self) -> None:
        self.drain_body()
        self.send_error_body(413, f"request body larger than {self.max_body_bytes} bytes", close=True)

    # --- the body ---------------------------------------------------------------------------
    def read_body(self) -> Optional[bytes]:
        """The request body, or None after answering 400/408/413 (and closing the connection)."""
        try:
            body = self._read_body()
        except MalformedRequest as error:
            body = None
            if self._timed_out:
                self.send_timeout()
            else:
                self.send_error_body(400, str(error), close=True)
        except (socket.timeout, OSError):
            body = None
            self.send_timeout()
        self.request_done()
        return body

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) != size:
            raise MalformedRequest("the request body ended early")
        return data

    def _read_body(self) -> Optional[bytes]:
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise MalformedRequest(f"unsupported Transfer-Encoding {encoding!r}")
            if lengths:  # a request smuggling pattern; RFC 9112 6.3 says reject
                raise MalformedRequest("both Transfer-Encoding and Content-Length")
            return self._read_chunked()
        if not lengths:
            return b""
        if len(set(lengths)) > 1 or not lengths[0].strip().isdigit() or not lengths[0].isascii():
            raise MalformedRequest("bad Content-Length")
        size = int(lengths[0])
        if size > self.max_body_bytes:
            self.send_too_large()
            return None
        return self._read_exactly(size)

    def _read_chunked(self) -> Optional[bytes]:
        parts: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise MalformedRequest("bad chunked encoding: chunk size line")
            digits = line.split(b";", 1)[0].strip()
            if not digits or len(digits) > _CHUNK_SIZE_DIGITS or any(c not in b"0123456789abcdefABCDEF" for c in digits):
                raise MalformedRequest("bad chunked encoding: chunk size")
            size = int(digits, 16)
            if size == 0:
                for _ in range(100):  # trailers, up to the empty line
                    trailer = self.rfile.readline(1024)
                    if trailer in (b"\r\n", b"\n"):
                        return b"".join(parts)
                    if not trailer.endswith(b"\n"):
                        break
                raise MalformedRequest("bad chunked encoding: trailers")
            total += size
            if total > self.max_body_bytes:
                self.send_too_large()
                return None
            parts.append(self._read_exactly(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise MalformedRequest("bad chunked encoding: chunk end")

    def drain_body(self) -> None:
        """Read and drop a refused body (up to a limit) so that the client sees the answer
        rather than a reset connection; beyond the limit the connection is just closed."""
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self.drain_limit_bytes:
            remaining = int(length)
            while remaining > 0:
                try:
                    chunk = self.rfile.read(min(remaining, 65536))
                except OSError:
                    break
                if not chunk:
                    break
                remaining -= len(chunk)


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    @property
    def port(self) -> int:
        return self.server_address[1]


def start_in_thread(server: ThreadingHTTPServer) -> Callable[[], None]:
    """Serve in a daemon thread; returns the function that stops the server."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"{type(server).__name__}:{server.server_address[1]}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def wait_until(predicate: Callable[[], bool], seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
