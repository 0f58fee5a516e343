"""Fan-out across replicas through Redis pub/sub (see ``brokers`` for the contract)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.brokers import BusUnavailable
from app.connection import Connection
from app.metrics import BUS_ERRORS, CONNECTIONS
from app.protocol import Presence
from app.rooms import LocalRooms

logger = logging.getLogger("chat.brokers")

# Frames on a room channel start with one of these: a message, or a presence update.
_MESSAGE = "m"
_PRESENCE = "p"
SUBSCRIBE_TIMEOUT_SECONDS = 5.0


class RedisBroker:
    """Fan-out across replicas through Redis pub/sub, with presence kept in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        presence_ttl: float = 30.0,
        namespace: str = "chat",
        rooms: LocalRooms | None = None,
    ) -> None:
        self.rooms = rooms or LocalRooms()
        self.client = client
        self.presence_ttl = presence_ttl
        self.namespace = namespace
        self.replica_id = uuid.uuid4().hex
        self._pubsub = client.pubsub()
        # Rooms whose channel we subscribed to; the future resolves when Redis confirms.
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        # Joins in progress per room: their room must not be unsubscribed under them.
        self._joining: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisBroker:
        """A broker on a ``redis://`` URL."""
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2.0)
        return cls(client, **kwargs)

    # -- names -----------------------------------------------------------------------------

    def _channel(self, room: str) -> str:
        return f"{self.namespace}:room:{room}"

    def _room_of(self, channel: str) -> str:
        return channel.removeprefix(f"{self.namespace}:room:")

    def _replicas_key(self, room: str) -> str:
        # Sorted set: replica id -> unix time its entries in this room expire.
        return f"{self.namespace}:presence:{room}"

    def _members_key(self, room: str, replica_id: str) -> str:
        # Hash: connection id -> member label ("" for anonymous).
        return f"{self.namespace}:presence:{room}:{replica_id}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to this replica's own channel and start listening and heartbeating."""
        # A pubsub with no subscription returns at once from reads; this one is always there.
        await self._pubsub.subscribe(f"{self.namespace}:replica:{self.replica_id}")
        self._tasks = [
            asyncio.create_task(self._listen(), name="chat-redis-listener"),
            asyncio.create_task(self._heartbeat(), name="chat-presence-heartbeat"),
        ]

    async def stop(self) -> None:
        """Stop the background tasks, withdraw this replica's presence and disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            async with self.client.pipeline(transaction=False) as pipe:
                for room in self.rooms.room_names():
                    pipe.delete(self._members_key(room, self.replica_id))
                    pipe.zrem(self._replicas_key(room), self.replica_id)
                await pipe.execute()
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()

    async def ping(self) -> None:
        """Readiness: Redis answers."""
        await self.client.ping()

    # -- membership ------------------------------------------------------------------------

    async def join(self, connection: Connection) -> None:
        """Subscribe to the room (confirmed), add the socket, record its presence."""
        room = connection.room
        self._joining[room] = self._joining.get(room, 0) + 1
        added = False
        try:
            await self._ensure_subscribed(room)
            self.rooms.add(connection)
            CONNECTIONS.inc()
            added = True
            await self._record_presence(connection)
        except (RedisError, OSError, TimeoutError) as exc:
            BUS_ERRORS.inc()
            if added:
                self.rooms.remove(connection)
                CONNECTIONS.dec()
            raise BusUnavailable(str(exc)) from exc
        finally:
            self._joining[room] -= 1
            if not self._joining[room]:
                del self._joining[room]

    async def leave(self, connection: Connection) -> None:
        """Remove the socket and its presence entry.

        The room's subscription lingers until the next heartbeat, so that a quick rejoin
        does not churn subscriptions.
        """
        self.rooms.remove(connection)
        CONNECTIONS.dec()
        try:
            await self.client.hdel(
                self._members_key(connection.room, self.replica_id), connection.id
            )
        except (RedisError, OSError):
            # The entry expires with the replica's heartbeat for that room.
            BUS_ERRORS.inc()

    async def _ensure_subscribed(self, room: str) -> None:
        confirmed = self._subscribed.get(room)
        if confirmed is None:
            confirmed = asyncio.get_running_loop().create_future()
            self._subscribed[room] = confirmed
            try:
                await self._pubsub.subscribe(self._channel(room))
            except BaseException:
                del self._subscribed[room]
                raise
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        except TimeoutError:
            if self._subscribed.get(room) is confirmed and not confirmed.done():
                del self._subscribed[room]
            raise

    async def _record_presence(self, connection: Connection) -> None:
        room = connection.room
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(
                self._members_key(room, self.replica_id),
                connection.id,
                connection.identity.member_label,
            )
            self._refresh_room(pipe, room)
            await pipe.execute()

    def _refresh_room(self, pipe: Any, room: str) -> None:
        ttl_ms = int(self.presence_ttl * 1000)
        pipe.pexpire(self._members_key(room, self.replica_id), ttl_ms)
        pipe.zadd(self._replicas_key(room), {self.replica_id: time.time() + self.presence_ttl})
        pipe.pexpire(self._replicas_key(room), ttl_ms)

    # -- frames ----------------------------------------------------------------------------

    async def publish(self, room: str, frame: str, *, presence: bool = False) -> None:
        """Publish on the room's channel; every subscribed replica delivers it."""
        kind = _PRESENCE if presence else _MESSAGE
        try:
            await self.client.publish(self._channel(room), f"{kind}{frame}")
        except (RedisError, OSError) as exc:
            BUS_ERRORS.inc()
            raise BusUnavailable(str(exc)) from exc

    async def presence(self, room: str) -> Presence:
        """Every live replica's entries for the room."""
        try:
            replicas = await self.client.zrangebyscore(
                self._replicas_key(room), time.time(), "+inf"
            )
            if not replicas:
                return Presence.from_labels([])
            async with self.client.pipeline(transaction=False) as pipe:
                for replica_id in replicas:
                    pipe.hvals(self._members_key(room, str(replica_id)))
                per_replica: list[list[str]] = await pipe.execute()
        except (RedisError, OSError) as exc:
            BUS_ERRORS.inc()
            raise BusUnavailable(str(exc)) from exc
        return Presence.from_labels([label for labels in per_replica for label in labels])

    # -- background ------------------------------------------------------------------------

    async def _listen(self) -> None:
        while not _stop_requested():
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                BUS_ERRORS.inc()
                logger.warning("redis listener failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if kind == "subscribe":
            confirmed = self._subscribed.get(self._room_of(channel))
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif kind == "message":
            data: str = message["data"]
            self.rooms.deliver(self._room_of(channel), data[1:], presence=data[:1] == _PRESENCE)

    async def _heartbeat(self) -> None:
        interval = self.presence_ttl / 3
        while not _stop_requested():
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                BUS_ERRORS.inc()
                logger.warning("presence heartbeat failed", extra={"error": repr(exc)})

    async def beat(self) -> None:
        """Refresh presence of every local room; unsubscribe from rooms left empty."""
        active = set(self.rooms.room_names())
        idle = [
            room
            for room, confirmed in self._subscribed.items()
            if room not in active and room not in self._joining and confirmed.done()
        ]
        for room in idle:
            del self._subscribed[room]
        if idle:
            await self._pubsub.unsubscribe(*(self._channel(room) for room in idle))
        if active:
            async with self.client.pipeline(transaction=False) as pipe:
                for room in active:
                    self._refresh_room(pipe, room)
                await pipe.execute()


def _stop_requested() -> bool:
    """Whether the current task has been asked to stop.

    A cancellation can be lost inside a read: one that arrives as the read's own timeout
    fires can come out of the timeout context manager as that timeout, which redis-py
    answers as "no message" (a test stopped a broker and waited a minute for a listener that
    went on listening). The background loops check before each round, so ``stop()`` cannot
    wait on them forever.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
