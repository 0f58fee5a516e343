"""Pytest fixtures every service's tests share (loaded automatically as a pytest plugin).

- ``database_url``: a fresh, empty database per test, once on SQLite and once on PostgreSQL.
- ``data_dir``: an empty data directory per test.
- ``tokens``: signs access tokens the way accounts does and verifies them like every service.
- ``postgres_url`` / ``redis_url``: the machine's servers, started if they are down.

And ``declared_routes_only``, to compare a service's direct routes with its declared ones.

In CI (``CI`` set), a server that cannot be reached fails the test; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from servicekit.app import ServiceApp
from servicekit.auth import ALGORITHM, StaticKeySource, TokenVerifier

TEST_ISSUER = "http://testserver/accounts"
TEST_AUDIENCE = "platform"

POSTGRES_START = (
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main start"
)
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def ensure_server(name: str, host: str, port: int, start_command: str) -> None:
    """Make sure a local server answers on host:port, starting it if needed.

    Fails the test in CI and skips it elsewhere when the server cannot be brought up.
    """
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port} and could not be started"
    if shutil.which(start_command.split()[0]) is None:
        # Not installed here (inside a service's image, say): nothing to wait for.
        _unavailable(f"{message} (not installed)")
    # The start commands are fixed strings of ours that need the shell's $(...).
    subprocess.run(start_command, shell=True, check=False, capture_output=True, timeout=60)  # noqa: S602
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.2)
    _unavailable(message)


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def postgres_admin_url() -> str:
    """URL of the maintenance database of the machine's PostgreSQL."""
    return os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin_execute(sql: str) -> None:
    import asyncpg

    url = postgres_admin_url()
    try:
        conn = await asyncpg.connect(url)
    except Exception:
        # Trust auth with the OS user name is the other common default.
        conn = await asyncpg.connect(url.replace("postgres@", "root@", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _database_url_for(name: str) -> str:
    base = postgres_admin_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The machine's PostgreSQL server (maintenance database), up and reachable."""
    ensure_server("PostgreSQL", "127.0.0.1", 5432, POSTGRES_START)
    return postgres_admin_url()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis server, up and reachable."""
    ensure_server("Redis", "127.0.0.1", 6379, REDIS_START)
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _create_postgres_database() -> str:
    name = f"test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    return name


def _drop_postgres_database(name: str) -> None:
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    request.getfixturevalue("postgres_url")
    name = _create_postgres_database()
    try:
        yield _database_url_for(name)
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty platform data directory for one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


def declared_routes_only(app: FastAPI) -> FastAPI:
    """The app with its direct routes off, so that its routers serve those paths too (the
    declared endpoints are the reference a direct route must answer like). Call it before
    the app serves its first request."""
    if not isinstance(app, ServiceApp):
        raise TypeError("only an app made by servicekit's create_app has direct routes")
    app.direct_routes = ()
    return app


class TokenFactory:
    """Issues RS256 access tokens like accounts does; ``verifier`` checks them like services do."""

    def __init__(self, issuer: str = TEST_ISSUER, audience: str = TEST_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self.private_key.public_key(), as_dict=True
        )
        public_jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        self.jwks = {"keys": [public_jwk]}
        self.verifier = TokenVerifier(StaticKeySource(self.jwks), issuer=issuer, audience=audience)

    def issue(
        self,
        user_id: str | None = None,
        *,
        phone_number: str | None = None,
        is_admin: bool = False,
        expires_in: int = 300,
        **claims: Any,
    ) -> str:
        """A signed access token for ``user_id`` (a new random id when omitted)."""
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id or str(uuid.uuid4()),
            "iat": now,
            "exp": now + timedelta(seconds=expires_in),
            "jti": uuid.uuid4().hex,
            "phone_number": phone_number,
            "is_admin": is_admin,
        }
        payload.update(claims)
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def headers(self, user_id: str | None = None, **kwargs: Any) -> dict[str, str]:
        """An ``Authorization: Bearer`` header for ``user_id``."""
        return {"Authorization": f"Bearer {self.issue(user_id, **kwargs)}"}


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    """One signing key per test session, with a verifier that trusts only it."""
    return TokenFactory()


@pytest.fixture
def jwks_url(tokens: TokenFactory) -> Iterator[str]:
    """The ``tokens`` factory's public keys served on loopback, as accounts serves its JWKS."""
    document = json.dumps(tokens.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test output is not the place for access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningService:
    """A service served by real uvicorn processes: where it listens and who serves it."""

    url: str
    pid: int
    log_path: Path


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _workers_started(log_path: Path) -> int:
    """How many uvicorn workers have logged the end of their start-up."""
    return log_path.read_text(errors="replace").count("Application startup complete")


@contextmanager
def running_service(
    service_dir: Path,
    env: Mapping[str, str],
    *,
    log_path: Path,
    workers: int = 1,
    ready_timeout: float = 60.0,
) -> Iterator[RunningService]:
    """Serve ``service_dir``'s ``app.main:app`` with uvicorn on a free loopback port.

    For tests that need what the in-process TestClient lacks: several worker processes,
    real sockets, back-pressure. ``env`` is added to the current environment.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=service_dir,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        # /readyz is answered by whichever worker accepts: wait until every one has started,
        # so that a test's requests race the workers, not their start-up.
        while not (_ready(url) and _workers_started(log_path) >= workers):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{service_dir.name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        try:
            yield RunningService(url=url, pid=process.pid, log_path=log_path)
        finally:
            if process.poll() is not None:
                # uvicorn's supervisor exits when a worker fails to start; the log says why.
                pytest.fail(
                    f"{service_dir.name} exited during the test (status {process.returncode}):"
                    f"\n{log_path.read_text()[-3000:]}"
                )
    finally:
        # The whole group: with --workers, the workers are the supervisor's children.
        with suppress(ProcessLookupError):  # all gone already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
