"""Uploads: a large file streamed through the gateway while the service's memory is watched."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import time

from bench.context import Context
from bench.procs import PeakRSS
from bench.results import Measurement, ScenarioResult, ScenarioUnavailable

CHUNK = 1024 * 1024
MB = 1024 * 1024


def stream_upload(host: str, port: int, token: str, size: int) -> tuple[int, str, float]:
    """POST a multipart upload of ``size`` bytes, generated chunk by chunk; never held whole.

    Returns the status, the body and the seconds from the first byte sent to the answer.
    """
    boundary = "bench" + secrets.token_hex(8)
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = os.urandom(CHUNK)  # incompressible, and the same bytes every chunk: cheap to send
    connection = http.client.HTTPConnection(host, port, timeout=300)
    try:
        started = time.perf_counter()
        connection.putrequest("POST", "/basement/files/upload")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + size + len(tail)))
        connection.endheaders()
        connection.send(head)
        remaining = size
        while remaining > 0:
            piece = block if remaining >= CHUNK else block[:remaining]
            connection.send(piece)
            remaining -= len(piece)
        connection.send(tail)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, body, time.perf_counter() - started
    finally:
        connection.close()


def run(ctx: Context, result: ScenarioResult) -> None:
    """Upload the profile's size once; throughput and the basement process's peak RSS growth."""
    stack = ctx.platform.stack
    user = ctx.platform.user("uploader")
    size = ctx.profile.upload_bytes
    with PeakRSS(stack.pid("basement")) as memory:
        status, body, seconds = stream_upload(
            "127.0.0.1", stack.gateway_port, user.access_token, size
        )
    if status != 200:
        raise ScenarioUnavailable(f"upload answered {status}: {body[:200]}")
    mb_per_s = size / MB / seconds
    growth_mb = memory.growth / MB
    result.measure(
        Measurement(
            "ours: upload via gateway",
            mb_per_s,
            "MB/s",
            details={"bytes": size, "seconds": round(seconds, 3)},
        )
    )
    result.measure(
        Measurement("ours: basement peak RSS growth", growth_mb, "MB", higher_is_better=False)
    )
    result.target("upload throughput", mb_per_s, 150, unit="MB/s")
    result.target("service peak RSS growth", growth_mb, 64, at_least=False, unit="MB")
    file_id = json.loads(body).get("file_id")
    if file_id:
        with ctx.platform.client() as client:
            client.delete(f"/basement/files/{file_id}", headers=user.headers)
