"""``make run``: the whole platform on 127.0.0.1, until Ctrl-C.

Settings come from the environment, then `.env`, then defaults. Ports: ``GATEWAY_PORT``
(8080) and ``<SERVICE>_PORT`` (8001-8005); data persists under ``DATA_DIR`` (./data).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from dotenv import dotenv_values

from devstack.stack import DEFAULT_PORTS, ROOT, SERVICES, Stack, StackError


def load_environment() -> None:
    """Fill in `.env` values that the environment does not already set."""
    for key, value in dotenv_values(ROOT / ".env").items():
        if value is not None:
            os.environ.setdefault(key, value)


def main() -> int:
    """Start the stack, print where it is, and stop it cleanly on Ctrl-C or SIGTERM."""
    load_environment()
    ports = {
        name: int(os.environ.get(f"{name.upper()}_PORT", port))
        for name, port in DEFAULT_PORTS.items()
    }
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "data"))
    gateway = {
        key: os.environ[key]
        for key in ("GATEWAY_AUTH_RATE", "GATEWAY_AUTH_BURST", "GATEWAY_MAX_UPLOAD_SIZE")
        if key in os.environ
    }
    stack = Stack(
        data_dir=data_dir,
        gateway_port=int(os.environ.get("GATEWAY_PORT", "8080")),
        ports=ports,
        gateway=gateway,
    )

    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    print(f"Starting the platform (data in {stack.data_dir}, logs in {stack.log_dir}) ...")
    try:
        stack.start()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    print(f"\nGateway: {stack.gateway_url}   (health: {stack.gateway_url}/health)")
    for name in SERVICES:
        print(f"  {name:<9} {stack.gateway_url}/{name}/   docs: {stack.gateway_url}/{name}/docs")
    print(f"  chat page {stack.gateway_url}/chat/")
    print("\nPress Ctrl-C to stop.")
    try:
        while not stopping:
            dead = stack.dead_processes()
            if dead:
                print(f"error: {', '.join(dead)} exited; see {stack.log_dir}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        print("\nStopping ...")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
