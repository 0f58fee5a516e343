"""Test helpers: a fake event subscriber, a bounded wait and SQLite's query plans."""

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from servicekit.db import Database
from servicekit.signing import SIGNATURE_HEADER, InvalidSignature, verify_signature

EVENTS_SECRET = "test-events-secret"


@dataclass
class FakeSubscriber:
    """Receives event deliveries in memory; ``status_codes`` are answered in turn (then 200)."""

    secret: str = EVENTS_SECRET
    status_codes: list[int] = field(default_factory=list)
    received: list[httpx.Request] = field(default_factory=list)
    refuse_connections: bool = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.refuse_connections:
            raise httpx.ConnectError("connection refused", request=request)
        self.received.append(request)
        try:
            verify_signature(self.secret, request.content, request.headers.get(SIGNATURE_HEADER))
        except InvalidSignature:
            return httpx.Response(401, json={"detail": "bad signature"})
        code = self.status_codes.pop(0) if self.status_codes else 200
        return httpx.Response(code, json={"status": "applied"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the deliveries received so far (of one type, if given)."""
        bodies = [json.loads(request.content) for request in list(self.received)]
        return [body for body in bodies if event_type is None or body["type"] == event_type]


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.02)


async def query_plan(db: Database, sql: str, parameters: Any) -> str:
    """SQLite's plan for ``sql``, its steps joined in one line."""
    async with db.read() as conn:
        plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
        return " ".join(str(row[-1]) for row in plan)


@contextlib.contextmanager
def statements_starting(prefix: str) -> Iterator[list[tuple[str, Any]]]:
    """Collect the (SQL, parameters) of every statement starting with ``prefix`` run
    meanwhile, as sent to the driver."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_args: Any) -> None:
        if sql.startswith(prefix):
            seen.append((sql, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", capture)
