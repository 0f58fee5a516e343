"""Start the ceilings and peers as servers on free loopback ports."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.procs import Server
from devstack import free_port, render_gateway_config
from devstack.stack import ROOT, nginx_binary

PEERS_DIR = Path(__file__).resolve().parent
# The services' own virtualenv: the framework ceiling runs on their pinned FastAPI.
SERVICES_PYTHON = str(ROOT / ".venv" / "bin" / "python")


def uvicorn_command(python: str, app: str, port: int) -> list[str]:
    """The uvicorn command line devstack uses for every service, for ``app``."""
    return [
        python, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def nginx_ceiling(run_dir: Path, worker_processes: str = "auto") -> Server:
    """Nginx answering ``return 200`` itself."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o755)  # nginx workers drop root privileges
    port = free_port()
    config = run_dir / "nginx.conf"
    config.write_text(
        render_gateway_config(
            {"WORKER_PROCESSES": worker_processes, "RUN_DIR": str(run_dir), "PORT": str(port)},
            template=PEERS_DIR / "nginx_return_200.conf",
        )
    )
    nginx = nginx_binary()
    return Server(
        "nginx return 200",
        [nginx, "-p", str(run_dir), "-c", str(config), "-g", "daemon off;"],
        ready_url=f"http://127.0.0.1:{port}/",
        log_path=run_dir / "nginx.log",
    )


def starlette_ceiling(log_dir: Path, python: str = sys.executable) -> Server:
    """A bare Starlette "hello" under our services' uvicorn settings."""
    port = free_port()
    return Server(
        "bare Starlette",
        uvicorn_command(python, "bench.peers.hello:app", port),
        ready_url=f"http://127.0.0.1:{port}/",
        log_path=log_dir / "starlette-hello.log",
        cwd=ROOT,
    )


def fastapi_ceiling(log_dir: Path) -> Server:
    """A bare FastAPI "hello" from the services' virtualenv, under their uvicorn settings."""
    port = free_port()
    return Server(
        "bare FastAPI",
        uvicorn_command(
            str(ROOT / ".venv" / "bin" / "python"), "bench.peers.hello_fastapi:app", port
        ),
        ready_url=f"http://127.0.0.1:{port}/",
        log_path=log_dir / "fastapi-hello.log",
        cwd=ROOT,
    )


def sqlite_read_floor(
    log_dir: Path, database: Path, python: str = sys.executable, *, fastapi: bool = False
) -> Server:
    """Bare Starlette (or FastAPI, from the services' virtualenv) answering one SQLite read."""
    port = free_port()
    module = "bench.peers.sqlite_read_fastapi:app" if fastapi else "bench.peers.sqlite_read:app"
    return Server(
        "bare FastAPI + SQLite read" if fastapi else "bare Starlette + SQLite read",
        uvicorn_command(SERVICES_PYTHON if fastapi else python, module, port),
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=log_dir / f"sqlite-read{'-fastapi' if fastapi else ''}.log",
        cwd=ROOT,
        env={"BENCH_SQLITE_PATH": str(database)},
    )


def django_chat(log_dir: Path, layer: str, redis_url: str, python: str = sys.executable) -> Server:
    """Django Channels running the chat consumer, with the ``memory`` or ``redis`` layer."""
    port = free_port()
    return Server(
        f"Django Channels ({layer})",
        uvicorn_command(python, "bench.peers.django_chat.asgi:application", port),
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=log_dir / f"django-chat-{layer}.log",
        cwd=ROOT,
        env={
            "DJANGO_SETTINGS_MODULE": "bench.peers.django_chat.settings",
            "BENCH_CHANNEL_LAYER": layer,
            "BENCH_REDIS_URL": redis_url,
        },
    )


def base_url(server: Server) -> str:
    """``http://127.0.0.1:<port>`` of a peer (its ready URL's origin)."""
    return "/".join(server.ready_url.split("/")[:3])
