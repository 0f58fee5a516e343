"""WebSocket load from this process: chat fan-out at a rising rate, and many idle sockets.

Every message carries ``bench|<step>|<seq>|<send time ns>`` in its text, so a receiver
measures delivery latency on the same clock as the sender without parsing the JSON.
Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

_MARK = re.compile(r"bench\|(\d+)\|(\d+)\|(\d+)")
# A step "keeps up" when nothing is lost and deliveries do not queue up behind the sender.
KEEP_UP_P99_MS = 500.0
CONNECT_TIMEOUT = 10.0
GRACE_SECONDS = 3.0


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0..1) of ``values``, or None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(fraction * 1000) - 1]


def chat_frame(step: int, seq: int) -> str:
    """A message in the seed's chat format, stamped for latency measurement."""
    text = f"bench|{step}|{seq}|{time.perf_counter_ns()}"
    return json.dumps({"message": text, "phone_number": "+15550000000", "avatar": ""})


@dataclass
class _Sink:
    """Deliveries seen by every receiver, per step."""

    delivered: dict[int, int] = field(default_factory=dict)
    latencies_ms: dict[int, list[float]] = field(default_factory=dict)
    last_delivery: dict[int, float] = field(default_factory=dict)
    _awaited: tuple[int, int] = (-1, 0)
    _reached: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, text: str) -> None:
        match = _MARK.search(text)
        if match is None:
            return  # presence, history, errors: not part of the measurement
        now = time.perf_counter_ns()
        step = int(match[1])
        self.delivered[step] = self.delivered.get(step, 0) + 1
        self.latencies_ms.setdefault(step, []).append((now - int(match[3])) / 1e6)
        self.last_delivery[step] = now / 1e9
        if step == self._awaited[0] and self.delivered[step] >= self._awaited[1]:
            self._reached.set()

    async def wait_for(self, step: int, expected: int, seconds: float) -> None:
        """Return once ``expected`` deliveries of ``step`` arrived, or after ``seconds``."""
        self._awaited = (step, expected)
        self._reached.clear()
        if self.delivered.get(step, 0) >= expected:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reached.wait(), seconds)


async def _drain(ws: ClientConnection, sink: _Sink | None) -> None:
    """Read every frame of a socket until it closes; hand text frames to ``sink``."""
    with contextlib.suppress(WebSocketException, OSError, asyncio.CancelledError):
        async for frame in ws:
            if sink is not None and isinstance(frame, str):
                sink.record(frame)


async def _open(url: str, count: int, batch: int = 100) -> list[ClientConnection]:
    """Open ``count`` sockets, ``batch`` at a time (each bounded by a timeout)."""
    sockets: list[ClientConnection] = []
    try:
        for start in range(0, count, batch):
            opening = [
                asyncio.wait_for(
                    connect(url, compression=None, max_size=2**20, open_timeout=CONNECT_TIMEOUT),
                    CONNECT_TIMEOUT,
                )
                for _ in range(min(batch, count - start))
            ]
            sockets.extend(await asyncio.gather(*opening))
    except BaseException:
        await _close(sockets)
        raise
    return sockets


async def _close(sockets: list[ClientConnection]) -> None:
    async def close(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(ws) for ws in sockets))


@dataclass
class FanoutStep:
    """One rate step of the fan-out scenario."""

    rate: int
    sent: int
    expected: int
    delivered: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    client_cpu: float

    @property
    def offered_per_second(self) -> float:
        """Deliveries per second the sender asked for (rate x receivers)."""
        return self.expected / self.sent * self.rate if self.sent else 0.0

    @property
    def delivered_per_second(self) -> float:
        """Deliveries per second achieved, from the first send to the last delivery."""
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def kept_up(self) -> bool:
        """Nothing lost and no backlog building up."""
        return (
            self.delivered >= self.expected
            and self.p99_ms is not None
            and self.p99_ms < KEEP_UP_P99_MS
        )


async def fan_out(
    url: str, receivers: int, rates: tuple[int, ...], step_seconds: float
) -> list[FanoutStep]:
    """One sender and ``receivers`` sockets in one room; one step per rate (messages/s).

    Stops at the first step that does not keep up: every later one would not either.
    """
    sink = _Sink()
    sockets = await _open(url, receivers + 1)
    sender, listeners = sockets[0], sockets[1:]
    readers = [asyncio.create_task(_drain(ws, sink)) for ws in listeners]
    readers.append(asyncio.create_task(_drain(sender, None)))
    steps: list[FanoutStep] = []
    try:
        for step, rate in enumerate(rates):
            count = max(1, round(rate * step_seconds))
            expected = count * receivers
            cpu_before = time.process_time()
            started = time.perf_counter()
            for seq in range(count):
                delay = started + seq / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await sender.send(chat_frame(step, seq))
            await sink.wait_for(step, expected, GRACE_SECONDS + step_seconds)
            finished = sink.last_delivery.get(step, time.perf_counter())
            wall = max(finished - started, 1e-6)
            latencies = sink.latencies_ms.get(step, [])
            result = FanoutStep(
                rate=rate,
                sent=count,
                expected=expected,
                delivered=sink.delivered.get(step, 0),
                seconds=wall,
                p50_ms=percentile(latencies, 0.50),
                p99_ms=percentile(latencies, 0.99),
                client_cpu=(time.process_time() - cpu_before) / (time.perf_counter() - started),
            )
            steps.append(result)
            if not result.kept_up:
                break
            await asyncio.sleep(0.2)  # let the room settle between steps
    finally:
        for task in readers:
            task.cancel()
        await _close(sockets)
        await asyncio.gather(*readers, return_exceptions=True)
    return steps


@dataclass
class ScaleResult:
    """Idle sockets held open while active ones exchange messages."""

    idle: int
    rss_before: int
    rss_idle: int
    idle_still_open: int
    active: int
    expected: int
    delivered: int
    p99_ms: float | None

    @property
    def bytes_per_idle_connection(self) -> float:
        """Server RSS growth divided by the idle sockets opened."""
        return (self.rss_idle - self.rss_before) / self.idle if self.idle else 0.0

    @property
    def lost(self) -> int:
        """Messages an active socket should have received and did not."""
        return self.expected - self.delivered


async def scale(
    url_for_room: Callable[[str], str],
    *,
    idle: int,
    active: int,
    messages_per_active: int,
    seconds: float,
    server_rss: Callable[[], int],
    idle_per_room: int = 10,
) -> ScaleResult:
    """Hold ``idle`` sockets in small rooms, then have ``active`` sockets talk in one room."""
    # One socket first, so that code paths loaded lazily are not counted per connection.
    await _close(await _open(url_for_room("bench-warmup"), 1))
    await asyncio.sleep(0.5)
    rss_before = server_rss()
    idle_sockets: list[ClientConnection] = []
    tasks: list[asyncio.Task[None]] = []
    active_sockets: list[ClientConnection] = []
    try:
        for start in range(0, idle, idle_per_room):
            room = url_for_room(f"bench-idle-{start // idle_per_room}")
            opened = await _open(room, min(idle_per_room, idle - start))
            idle_sockets.extend(opened)
            tasks.extend(asyncio.create_task(_drain(ws, None)) for ws in opened)
        await asyncio.sleep(1.0)
        rss_idle = server_rss()

        sink = _Sink()
        active_sockets = await _open(url_for_room("bench-active"), active)
        tasks.extend(asyncio.create_task(_drain(ws, sink)) for ws in active_sockets)

        async def talk(ws: ClientConnection, who: int) -> None:
            for seq in range(messages_per_active):
                await asyncio.sleep(seconds / messages_per_active)
                await ws.send(chat_frame(0, who * messages_per_active + seq))

        await asyncio.gather(*(talk(ws, who) for who, ws in enumerate(active_sockets)))
        expected = active * active * messages_per_active
        await sink.wait_for(0, expected, GRACE_SECONDS + seconds)
        still_open = sum(1 for ws in idle_sockets if ws.close_code is None)
        return ScaleResult(
            idle=idle,
            rss_before=rss_before,
            rss_idle=rss_idle,
            idle_still_open=still_open,
            active=active,
            expected=expected,
            delivered=sink.delivered.get(0, 0),
            p99_ms=percentile(sink.latencies_ms.get(0, []), 0.99),
        )
    finally:
        for task in tasks:
            task.cancel()
        await _close(idle_sockets + active_sockets)
        await asyncio.gather(*tasks, return_exceptions=True)
