"""A slow client cannot stall fan-out: bounded outboxes, non-blocking offers, send timeouts."""

import asyncio

from app.brokers import LocalBroker
from app.connection import CloseReason, Connection
from app.protocol import Identity
from app.ratelimit import FloodGuard, TokenBucket
from app.rooms import LocalRooms


def _connection(room: str = "r", *, queue_size: int = 4, send_timeout: float = 1.0) -> Connection:
    return Connection(room, Identity(), queue_size=queue_size, send_timeout=send_timeout)


def test_an_overflowing_outbox_marks_the_client_a_slow_consumer() -> None:
    connection = _connection(queue_size=2)
    assert connection.offer("1")
    assert connection.offer("2")
    assert not connection.offer("3")
    assert connection.close_reason is CloseReason.SLOW_CONSUMER
    assert connection.pending_frames == 2
    # Once closing, nothing more is queued: memory stays bounded.
    assert not connection.offer("4")


def test_delivery_to_a_room_never_waits_for_a_slow_client() -> None:
    rooms = LocalRooms()
    slow, fast = _connection(queue_size=1), _connection(queue_size=100)
    rooms.add(slow)
    rooms.add(fast)
    for n in range(50):
        rooms.deliver("r", f"frame {n}")
    assert fast.pending_frames == 50
    assert slow.close_reason is CloseReason.SLOW_CONSUMER
    assert slow.pending_frames == 1


def test_a_send_that_stalls_closes_the_connection_as_stalled() -> None:
    async def scenario() -> CloseReason | None:
        connection = _connection(send_timeout=0.05)
        connection.offer("frame")

        async def never_completes(_frame: str) -> None:
            await asyncio.Event().wait()

        await asyncio.wait_for(connection.run_writer(never_completes), 5)
        return connection.close_reason

    assert asyncio.run(scenario()) is CloseReason.STALLED


def test_the_writer_sends_frames_in_order() -> None:
    async def scenario() -> list[str]:
        connection = _connection()
        sent: list[str] = []

        async def send(frame: str) -> None:
            sent.append(frame)
            if len(sent) == 3:
                connection.request_close(CloseReason.CLIENT_CLOSED)

        for frame in ("a", "b", "c"):
            connection.offer(frame)
        writer = asyncio.create_task(connection.run_writer(send))
        await asyncio.wait_for(connection.wait_closing(), 5)
        writer.cancel()
        return sent

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_presence_frames_go_only_to_connections_that_asked() -> None:
    async def scenario() -> tuple[int, int]:
        broker = LocalBroker()
        watcher = Connection("r", Identity(), queue_size=4, send_timeout=1, wants_presence=True)
        plain = _connection()
        await broker.join(watcher)
        await broker.join(plain)
        await broker.publish("r", "presence", presence=True)
        return watcher.pending_frames, plain.pending_frames

    assert asyncio.run(scenario()) == (1, 0)


def test_the_token_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.try_take()
    assert not bucket.try_take()


def test_the_flood_guard_gives_up_after_consecutive_strikes_only() -> None:
    now = [0.0]
    guard = FloodGuard(rate=1, burst=1, strikes=3, clock=lambda: now[0])
    assert guard.admit()
    assert not guard.admit()
    assert not guard.admit()
    assert not guard.flooding
    now[0] += 1.0
    assert guard.admit()  # a frame within the limit forgives the strikes
    assert [guard.admit() for _ in range(3)] == [False, False, False]
    assert guard.flooding
