"""Start, stop and restart the platform's processes: uvicorn per service, Nginx in front."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
SERVICES_DIR = ROOT / "microservices"
GATEWAY_TEMPLATE = ROOT / "gateway" / "nginx.conf"

SERVICES = ("accounts", "payments", "chat", "basement", "resume")
DEFAULT_PORTS = {"accounts": 8001, "payments": 8002, "chat": 8003, "basement": 8004, "resume": 8005}

GATEWAY_DEFAULTS = {
    "GATEWAY_WORKER_PROCESSES": "auto",
    "GATEWAY_AUTH_RATE": "10r/s",
    "GATEWAY_AUTH_BURST": "20",
    "GATEWAY_MAX_UPLOAD_SIZE": "50m",
    "GATEWAY_RESOLVER": "# upstreams are 127.0.0.1 ports: nothing to resolve",
}

_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")


class StackError(RuntimeError):
    """A process of the stack failed to start or to become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def render_gateway_config(variables: Mapping[str, str], template: Path = GATEWAY_TEMPLATE) -> str:
    """Substitute ``${NAME}`` placeholders like the Nginx image's envsubst step does.

    Every placeholder must have a value: a forgotten one is an error, not an empty string.
    """
    text = template.read_text()
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in variables})
    if missing:
        raise StackError(f"gateway template needs values for: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: variables[match.group(1)], text)


def nginx_binary() -> str:
    """Path of the nginx executable."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        raise StackError("nginx is not installed: run `make nginx` or install it with your OS")
    return found


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The status of a GET on a loopback URL, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class LoggedProcess:
    """A child process in its own session, its output appended to ``log_path``."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own process group: Ctrl-C reaches devstack, which stops everyone in order.
                start_new_session=True,
            )
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """SIGTERM (or SIGKILL), then SIGKILL if it has not exited within ``timeout``."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        self.popen = None


@dataclass
class Stack:
    """The platform as local processes.

    ``ports`` maps a service to its first replica's port (free ports when omitted);
    ``replicas`` runs several processes of a service behind the gateway (chat scale-out);
    ``env`` is passed to every service on top of the current environment.
    """

    data_dir: Path
    gateway_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    gateway: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    python: str = sys.executable

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        # Payments signs the events it delivers to accounts; both must share the secret.
        self._events_secret = os.environ.get("PAYMENT_EVENTS_SECRET") or secrets.token_hex(32)
        self.log_dir = self.data_dir / "logs"
        self.run_dir = self.data_dir / "gateway"
        self.gateway_port = self.gateway_port or free_port()
        self._nginx: LoggedProcess | None = None
        self._ports: dict[tuple[str, int], int] = {}
        for name in self.services:
            for replica in range(self.replicas.get(name, 1)):
                port = self.ports.get(name) if replica == 0 else None
                self._ports[(name, replica)] = port or free_port()
        self._processes = {key: self._service_process(*key) for key in self._ports}

    # -- addresses -------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def port(self, name: str, replica: int = 0) -> int:
        """The port a service replica listens on."""
        return self._ports[(name, replica)]

    def service_url(self, name: str, replica: int = 0) -> str:
        """Base URL of a service replica, bypassing the gateway."""
        return f"http://127.0.0.1:{self.port(name, replica)}"

    def pid(self, name: str, replica: int = 0) -> int:
        """Process id of a running service replica (for memory and CPU measurements)."""
        popen = self._processes[(name, replica)].popen
        if popen is None:
            raise StackError(f"{name}-{replica} is not running")
        return popen.pid

    def log_path(self, name: str, replica: int = 0) -> Path:
        """Where a service replica's stdout (its JSON log lines) goes."""
        return self._processes[(name, replica)].log_path

    # -- processes -------------------------------------------------------------------------

    def service_environment(self, name: str) -> dict[str, str]:
        """Environment every replica of a service starts with."""
        accounts = self._ports.get(("accounts", 0), DEFAULT_PORTS["accounts"])
        env = dict(os.environ)
        env.update(
            {
                "DATA_DIR": str(self.data_dir),
                "JWKS_URL": f"http://127.0.0.1:{accounts}/.well-known/jwks.json",
                "PYTHONUNBUFFERED": "1",
                "PAYMENT_EVENTS_SECRET": self._events_secret,
                "PAYMENTS_ACCOUNTS_EVENTS_URL": f"http://127.0.0.1:{accounts}/internal/events",
            }
        )
        env.update(self.env)
        return env

    def _service_process(self, name: str, replica: int) -> LoggedProcess:
        env = self.service_environment(name)
        port = self.port(name, replica)
        command = [
            self.python, "-m", "uvicorn", "app.main:app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            # No service takes WebSocket frames near uvicorn's 16 MiB default.
            "--ws-max-size", "1048576",
        ]  # fmt: skip
        return LoggedProcess(
            name=f"{name}-{replica}",
            command=command,
            cwd=SERVICES_DIR / name,
            env=env,
            log_path=self.log_dir / f"{name}-{replica}.log",
        )

    def gateway_variables(self) -> dict[str, str]:
        """Values for the gateway template's placeholders."""
        variables = dict(GATEWAY_DEFAULTS)
        variables.update(
            {
                "GATEWAY_LISTEN": f"127.0.0.1:{self.gateway_port}",
                "GATEWAY_PID_FILE": str(self.run_dir / "nginx.pid"),
                "GATEWAY_ERROR_LOG": str(self.log_dir / "gateway-error.log"),
                "GATEWAY_ACCESS_LOG": str(self.log_dir / "gateway-access.log"),
                "GATEWAY_TEMP_DIR": str(self.run_dir / "tmp"),
                "GATEWAY_MIME_TYPES": "/etc/nginx/mime.types",
            }
        )
        for name in SERVICES:
            ports = [port for (svc, _), port in self._ports.items() if svc == name]
            # A service that is not part of this stack still needs an upstream; nothing listens.
            servers = [f"server 127.0.0.1:{port};" for port in ports] or ["server 127.0.0.1:9;"]
            variables[f"GATEWAY_{name.upper()}_SERVERS"] = " ".join(servers)
        variables.update(self.gateway)
        return variables

    def _write_gateway_config(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "tmp").mkdir(exist_ok=True)
        # Nginx workers drop root privileges; they must be able to reach the temp dirs.
        for path in (self.data_dir, self.run_dir, self.run_dir / "tmp"):
            path.chmod(0o755)
        variables = self.gateway_variables()
        if not Path(variables["GATEWAY_MIME_TYPES"]).exists():
            mime = self.run_dir / "mime.types"
            mime.write_text("types { text/html html; application/json json; }\n")
            variables["GATEWAY_MIME_TYPES"] = str(mime)
        config = self.run_dir / "nginx.conf"
        config.write_text(render_gateway_config(variables))
        return config

    def start_gateway(self) -> None:
        """Render the gateway config and start Nginx in the foreground of its own process."""
        config = self._write_gateway_config()
        nginx = nginx_binary()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        check = subprocess.run(
            [nginx, "-t", "-q", "-p", str(self.run_dir), "-c", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise StackError(f"gateway config is invalid:\n{check.stderr}")
        self._nginx = LoggedProcess(
            name="gateway",
            command=[nginx, "-p", str(self.run_dir), "-c", str(config), "-g", "daemon off;"],
            cwd=self.run_dir,
            env=dict(os.environ),
            log_path=self.log_dir / "gateway.log",
        )
        self._nginx.start()
        self._wait_until(
            lambda: http_status(f"{self.gateway_url}/health") == 200,
            what="gateway",
            process=self._nginx,
        )

    def start_service(self, name: str, replica: int = 0, *, wait: bool = True) -> None:
        """Start one replica of a service and wait until its /readyz is green."""
        process = self._processes[(name, replica)]
        process.start()
        if wait:
            self.wait_ready(name, replica)

    def wait_ready(self, name: str, replica: int = 0, timeout: float = 60.0) -> None:
        """Block until a replica answers 200 on /readyz."""
        process = self._processes[(name, replica)]
        url = f"{self.service_url(name, replica)}/readyz"
        self._wait_until(
            lambda: http_status(url) == 200, what=process.name, process=process, timeout=timeout
        )

    def stop_service(self, name: str, replica: int = 0, *, kill: bool = False) -> None:
        """Stop one replica: SIGTERM and a graceful shutdown, or SIGKILL to simulate a crash."""
        self._processes[(name, replica)].stop(kill=kill)

    def start(self) -> Stack:
        """Start every service (in parallel), then the gateway; return when all are ready."""
        for process in self._processes.values():
            process.start()
        try:
            for name, replica in self._processes:
                self.wait_ready(name, replica)
            self.start_gateway()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the gateway and every service."""
        if self._nginx is not None:
            self._nginx.stop()
            self._nginx = None
        for process in self._processes.values():
            process.stop()

    def dead_processes(self) -> list[str]:
        """Names of processes that were started and have exited since."""
        everything = [*self._processes.values(), *([self._nginx] if self._nginx else [])]
        return [proc.name for proc in everything if proc.popen is not None and not proc.running]

    def _wait_until(
        self, ready: object, *, what: str, process: LoggedProcess, timeout: float = 60.0
    ) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not process.running:
                raise StackError(f"{what} exited during start-up:\n{_tail(process.log_path)}")
            time.sleep(0.05)
        raise StackError(f"{what} was not ready after {timeout:.0f}s:\n{_tail(process.log_path)}")

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
