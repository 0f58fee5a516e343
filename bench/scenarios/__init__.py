"""Every scenario, in the order a run measures them (start-up last: it restarts services)."""

from __future__ import annotations

from collections.abc import Callable

from bench.context import Context
from bench.results import ScenarioResult
from bench.scenarios import ceilings, chat, http, money, startup, thumbnails, uploads

Scenario = Callable[[Context, ScenarioResult], None]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "ceilings": ("Ceilings: Nginx return 200, bare Starlette", ceilings.run),
    "gateway-overhead": (
        "Gateway overhead: GET a resume, via gateway vs direct",
        http.gateway_overhead,
    ),
    "read-path": ("Read path: GET a resume via gateway vs bare Starlette", http.read_path),
    "write-path": ("Write path: POST /accounts/transactions", money.write_path),
    "idempotent-create": ("Idempotent create: POST /payments, fresh keys", money.idempotent_create),
    "chat-fanout": ("Chat fan-out: 1 sender, N receivers, rising rate", chat.fan_out),
    "chat-scale": ("Chat scale: idle connections + active ones", chat.scale),
    "thumbnails": ("Thumbnails: 4000x3000 JPEG -> 300 px", thumbnails.run),
    "uploads": ("Uploads through the gateway", uploads.run),
    "startup": ("Start-up: process start to /readyz 200", startup.run),
}
