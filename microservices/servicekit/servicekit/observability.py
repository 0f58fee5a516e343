"""One pure ASGI middleware for request ids, the per-request log line and Prometheus metrics.

The three share a single timer and a single wrapped ``send``, which keeps the hot path to
one extra function frame per response message. A finished request's metrics and log line
are settled with the rest of its loop turn's (``FinishedRequests``).
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.logging import AccessEntry, AccessLog, request_id_var
from servicekit.request_metrics import RequestRecorder, request_recorder
from servicekit.turn_end import TurnEnd

REQUEST_ID_HEADER = b"x-request-id"
# The same rule as the gateway's: short, printable, no separators a log parser could trip on.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

# Any other token a client sends as a method is counted as OTHER: labels stay bounded.
_METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_label(method: str) -> str:
    return method if method in _METHOD_LABELS else "OTHER"


# (time, method, path, route, status, seconds, request id) of one answered request.
_Finished = tuple[float, str, str, str, int, float, str]


class FinishedRequests:
    """Meters and logs the requests one turn of the event loop finished, at the turn's end.

    Under load a turn finishes dozens of requests. Recording each one's metrics and laying
    out its access line as it finished cost a small GET a tenth of its CPU: by then the
    CPU's caches held other code. The same work for a whole turn, in one loop, takes about a
    third of that (bench/README.md, read path). A request finished where no loop runs, or
    while the access log is not as ``configure_logging`` left it (a test's capture handler
    sees its record before the client sees the response), is settled at once.
    """

    # A turn that finishes more requests than this settles as it goes (memory stays bounded).
    max_pending = 256

    def __init__(self, metrics: RequestRecorder, log: AccessLog) -> None:
        self._metrics = metrics
        self._log = log
        self._pending: deque[_Finished] = deque()
        # In a context of its own: what the settling logs is not any one request's.
        self._settle_at_turn_end = TurnEnd(self.settle, own_context=True)

    def add(
        self, method: str, path: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        """Meter and log this request with the rest of this loop turn's."""
        self._pending.append((time.time(), method, path, route, status, seconds, request_id))
        turn_end = self._settle_at_turn_end
        # How lines are written is looked at once per turn, when the turn's first request ends.
        if len(self._pending) < self.max_pending and (
            turn_end.asked() or (self._log.writes_directly() and turn_end.ask())
        ):
            return
        self.settle()

    def settle(self) -> None:
        """Meter and log every request finished so far (from any thread)."""
        pending = self._pending
        record = self._metrics.record
        entries: list[AccessEntry] = []
        while pending:
            try:
                created, method, path, route, status, seconds, request_id = pending.popleft()
            except IndexError:  # another thread took the last one
                break
            record(_method_label(method), route, status, seconds)
            entries.append(
                (created, method, path, route, status, round(seconds * 1000, 2), request_id)
            )
        if entries:
            self._log.requests(entries)


request_metrics = request_recorder()
access_log = AccessLog()
finished_requests = FinishedRequests(request_metrics, access_log)


_VALID_PREFIX = re.compile(rb"^(/[A-Za-z0-9._~-]+)+$")


@functools.lru_cache(maxsize=16)
def _forwarded_prefix(value: bytes) -> tuple[str, bytes]:
    """The gateway's path prefix as text and bytes, or empty if malformed (a gateway sends
    one or two values, so each is checked once)."""
    return (value.decode("ascii"), value) if _VALID_PREFIX.match(value) else ("", b"")


def _read_headers(scope: Scope) -> tuple[bytes, tuple[str, bytes]]:
    """The request id to use (the client's if well-formed, else a new random one, 32 hex
    digits like the gateway's) and the gateway's path prefix (text and bytes)."""
    request_id = forwarded_prefix = None
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            request_id = value
        elif name == b"x-forwarded-prefix":
            forwarded_prefix = value
    if request_id is None or not _VALID_REQUEST_ID.match(request_id):
        request_id = secrets.token_hex(16).encode("ascii")
    prefix = _forwarded_prefix(forwarded_prefix) if forwarded_prefix else _NO_PREFIX
    return request_id, prefix


_NO_PREFIX = ("", b"")


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/users/{user_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    """Honours or assigns ``X-Request-ID``, logs one line per request and records metrics.

    Also applies ``X-Forwarded-Prefix`` (set by the gateway) as the ASGI ``root_path`` so that
    OpenAPI docs work both behind ``/<service>/`` and on the service port.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        request_id, (prefix, raw_prefix) = _read_headers(scope)
        request_id_text = request_id.decode("ascii")
        token = request_id_var.set(request_id_text)
        if prefix:
            # ASGI wants `path` to include `root_path`; Starlette strips it again for routing.
            scope["root_path"] = scope.get("root_path", "") + prefix
            scope["path"] = prefix + scope["path"]
            raw_path = scope.get("raw_path")
            if raw_path is not None:
                scope["raw_path"] = raw_prefix + raw_path
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        start = time.perf_counter()
        status = 500

        # A plain function handing back send's awaitable: one coroutine per message, not two.
        def send_with_request_id(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
            return send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            finished_requests.add(
                scope["method"],
                scope["path"],
                route_template(scope),
                status,
                time.perf_counter() - start,
                request_id_text,
            )
            request_id_var.reset(token)
