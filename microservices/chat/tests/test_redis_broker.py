"""Fan-out across replicas through a real Redis: two brokers stand for two replicas."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import redis.asyncio as redis

from app.connection import Connection
from app.protocol import Identity
from app.redis_broker import RedisBroker

SCENARIO_TIMEOUT_SECONDS = 60
T = TypeVar("T")


def bounded(scenario: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """The scenario, cut off after a while: a lost Redis reply must fail the test, not hang it."""
    return asyncio.wait_for(scenario, SCENARIO_TIMEOUT_SECONDS)


def _connection(room: str, identity: Identity | None = None) -> Connection:
    return Connection(room, identity or Identity(), queue_size=16, send_timeout=1.0)


async def _until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _two_replicas(redis_url: str, **kwargs: float) -> tuple[RedisBroker, RedisBroker]:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    return (
        RedisBroker.from_url(redis_url, namespace=namespace, **kwargs),
        RedisBroker.from_url(redis_url, namespace=namespace, **kwargs),
    )


def test_a_frame_published_on_one_replica_reaches_sockets_on_both(redis_url: str) -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        first, second = _two_replicas(redis_url)
        await first.start()
        await second.start()
        try:
            here, there, elsewhere = _connection("r"), _connection("r"), _connection("other")
            await first.join(here)
            await second.join(there)
            await second.join(elsewhere)
            await first.publish("r", '{"message":"hi"}')
            await _until(lambda: _true(here.pending_frames == 1 and there.pending_frames == 1))
            return [await _next(here)], [await _next(there)], elsewhere.pending_frames
        finally:
            await first.stop()
            await second.stop()

    assert asyncio.run(bounded(scenario())) == (['{"message":"hi"}'], ['{"message":"hi"}'], 0)


def test_presence_counts_connections_on_every_replica(redis_url: str) -> None:
    async def scenario() -> list[tuple[int, tuple[str, ...]]]:
        first, second = _two_replicas(redis_url)
        await first.start()
        await second.start()
        try:
            alice = _connection("p", Identity(user_id="u1", phone_number="+1555"))
            anonymous = _connection("p")
            await first.join(alice)
            await second.join(anonymous)
            both = await first.presence("p")
            await second.leave(anonymous)
            after_leave = await second.presence("p")
            return [
                (both.active_connections, both.members),
                (after_leave.active_connections, after_leave.members),
            ]
        finally:
            await first.stop()
            await second.stop()

    assert asyncio.run(bounded(scenario())) == [(2, ("+1555",)), (1, ("+1555",))]


def test_a_crashed_replica_drops_out_of_presence_when_its_heartbeat_expires(
    redis_url: str,
) -> None:
    async def scenario() -> tuple[int, int]:
        survivor, crashed = _two_replicas(redis_url, presence_ttl=3.0)
        await survivor.start()
        await crashed.start()
        try:
            await survivor.join(_connection("c"))
            await crashed.join(_connection("c"))
            before = (await survivor.presence("c")).active_connections
            # A crash: the replica's tasks stop and it never withdraws its entries.
            for task in crashed._tasks:
                task.cancel()

            async def only_survivor_left() -> bool:
                await survivor.beat()
                return (await survivor.presence("c")).active_connections == 1

            await _until(only_survivor_left, within=8.0)
            return before, (await survivor.presence("c")).active_connections
        finally:
            await survivor.stop()
            await crashed.client.aclose()

    assert asyncio.run(bounded(scenario())) == (2, 1)


def test_a_replica_that_stops_withdraws_its_presence_at_once(redis_url: str) -> None:
    async def scenario() -> int:
        staying, leaving = _two_replicas(redis_url)
        await staying.start()
        await leaving.start()
        try:
            await staying.join(_connection("s"))
            await leaving.join(_connection("s"))
            await leaving.stop()
            return (await staying.presence("s")).active_connections
        finally:
            await staying.stop()

    assert asyncio.run(bounded(scenario())) == 1


def test_rooms_left_empty_are_unsubscribed_on_the_next_heartbeat(redis_url: str) -> None:
    async def scenario() -> tuple[int, int]:
        broker = RedisBroker.from_url(redis_url, namespace=f"test-{uuid.uuid4().hex[:8]}")
        await broker.start()
        probe = redis.Redis.from_url(redis_url)
        try:
            connection = _connection("u")
            await broker.join(connection)
            channel = f"{broker.namespace}:room:u"
            subscribed = (await probe.pubsub_numsub(channel))[0][1]
            await broker.leave(connection)
            await broker.beat()

            async def unsubscribed() -> bool:
                return bool((await probe.pubsub_numsub(channel))[0][1] == 0)

            await _until(unsubscribed)
            return subscribed, 0
        finally:
            await broker.stop()
            await probe.aclose()

    assert asyncio.run(bounded(scenario())) == (1, 0)


async def _true(value: bool) -> bool:
    return value


async def _next(connection: Connection) -> str:
    return await connection.next_frame()


def test_stop_ends_the_listener_even_when_a_read_swallows_the_cancellation(
    redis_url: str,
) -> None:
    async def scenario() -> bool:
        broker = RedisBroker.from_url(redis_url, namespace=f"test-{uuid.uuid4().hex[:8]}")
        await broker.start()

        swallowed: list[bool] = []

        async def read_that_swallows_cancellation(timeout: float) -> None:  # noqa: ASYNC109 - get_message's signature
            # Once, as a read whose own timeout fired together with the task's cancellation.
            if swallowed:
                await asyncio.sleep(timeout)
                return
            try:
                await asyncio.sleep(timeout)
            except asyncio.CancelledError:
                swallowed.append(True)

        broker._pubsub.get_message = read_that_swallows_cancellation  # type: ignore[method-assign,assignment]
        await asyncio.sleep(0.05)  # the listener is inside such a read now
        await asyncio.wait_for(broker.stop(), 5.0)
        return all(task.done() for task in broker._tasks)

    assert asyncio.run(bounded(scenario())) is True
