"""The platform under test: devstack's Stack on free ports with a fresh data dir, and users.

Services run on the project's own virtualenv (``.venv``), exactly as ``make run`` runs them;
the bench virtualenv only drives the load and hosts the peers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.results import ScenarioUnavailable
from devstack import Stack, StackError
from devstack.stack import ROOT
from tests.platform_users import SignedInUser, sign_up

SERVICES_PYTHON = ROOT / ".venv" / "bin" / "python"

# Settings that only lift limits meant for abusive clients, so that the load generator is
# not mistaken for one; nothing here changes how a request is served.
GATEWAY_SETTINGS = {
    "GATEWAY_AUTH_RATE": "100r/s",
    "GATEWAY_AUTH_BURST": "200",
    "GATEWAY_MAX_UPLOAD_SIZE": "2g",
}
SERVICE_ENV: dict[str, str] = {
    "BASEMENT_MAX_UPLOAD_BYTES": str(2 * 1024**3),
    # The fan-out sender is one client sending hundreds of messages a second on purpose.
    "CHAT_RATE_LIMIT_PER_SECOND": "100000",
    "CHAT_RATE_LIMIT_BURST": "100000",
}

T = TypeVar("T")


class Platform:
    """Starts the stack on first use and keeps it for every scenario of the run."""

    def __init__(self, work_dir: Path, python: Path = SERVICES_PYTHON) -> None:
        self.work_dir = work_dir
        self.python = python
        self._stack: Stack | None = None
        self._failure: str | None = None
        self._users: dict[str, SignedInUser] = {}

    @property
    def stack(self) -> Stack:
        """The running platform; ScenarioUnavailable when it cannot start."""
        if self._failure:
            raise ScenarioUnavailable(self._failure)
        if self._stack is None:
            if not self.python.exists():
                self._failure = f"{self.python} is missing: run `make venv` first"
                raise ScenarioUnavailable(self._failure)
            stack = Stack(
                data_dir=self.work_dir / "platform",
                env=dict(SERVICE_ENV),
                gateway=dict(GATEWAY_SETTINGS),
                python=str(self.python),
            )
            try:
                stack.start()
            except StackError as exc:
                self._failure = f"the platform did not start: {str(exc)[:500]}"
                raise ScenarioUnavailable(self._failure) from exc
            self._stack = stack
        return self._stack

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the gateway."""
        return httpx.Client(base_url=self.stack.gateway_url, timeout=timeout)

    def user(self, name: str) -> SignedInUser:
        """A signed-up user (one per name for the whole run), through the gateway."""
        if name not in self._users:
            with self.client() as client:
                self._users[name] = expect(lambda: sign_up(client), "signing up through accounts")
        return self._users[name]

    def stop(self) -> None:
        """Stop every process of the platform."""
        if self._stack is not None:
            self._stack.stop()
            self._stack = None


def expect(action: Callable[[], T], what: str) -> T:
    """Run a set-up step against a service; any failure means the scenario is not available.

    Services are built in parallel with the benchmarks: a missing endpoint, an unexpected
    answer or shape is reported, not crashed on.
    """
    try:
        return action()
    except (AssertionError, KeyError, TypeError, ValueError, httpx.HTTPError) as exc:
        raise ScenarioUnavailable(f"{what} failed: {type(exc).__name__}: {exc}"[:400]) from exc


def json_of(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The JSON object of an answer with one of ``statuses``; ScenarioUnavailable otherwise."""
    if response.status_code not in statuses:
        raise ScenarioUnavailable(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:200]}"
        )
    data = response.json()
    if not isinstance(data, dict):
        raise ScenarioUnavailable(f"{response.request.url.path} answered {type(data).__name__}")
    return data


def run_token() -> str:
    """A short random token that makes this run's keys and names unique."""
    return secrets.token_hex(4)
