"""Test helpers: a fake event subscriber and a bounded wait."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

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
