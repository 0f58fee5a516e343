"""Fan-out between replicas: in memory for one process, Redis pub/sub for several.

``RedisBroker`` lives in ``redis_broker`` so that a single-process service never imports the
Redis client (it is a sizeable share of start-up).

A broker owns the local rooms' membership (``join``/``leave``), publishes frames to a room
on every replica (``publish``) and counts who is in a room (``presence``).

With Redis, every frame goes through the room's channel, also to this replica's own sockets,
so all replicas see a room's frames in one order. Each replica subscribes to a room's channel
while it has sockets in that room, and waits for Redis to confirm the subscription before a
socket joins, so a client never misses a message published after its handshake. Presence is
one hash per room and replica (connection id -> member label), kept alive by heartbeats: a
replica that dies stops heartbeating and its connections drop out of the counts when the
hash expires.
"""

from __future__ import annotations

from typing import Protocol

from app.connection import Connection
from app.metrics import CONNECTIONS
from app.protocol import Presence
from app.rooms import LocalRooms


class BusUnavailable(RuntimeError):
    """The message bus (Redis) could not be reached."""


class Broker(Protocol):
    """What the chat needs from fan-out: membership, publishing and presence."""

    rooms: LocalRooms

    async def start(self) -> None:
        """Connect and start background work."""
        ...

    async def stop(self) -> None:
        """Stop background work and release resources."""
        ...

    async def join(self, connection: Connection) -> None:
        """Make a connection receive its room's frames; raises BusUnavailable."""
        ...

    async def leave(self, connection: Connection) -> None:
        """Stop delivering to a connection and drop it from presence."""
        ...

    async def publish(self, room: str, frame: str, *, presence: bool = False) -> None:
        """Send a frame to every connection in the room, on every replica."""
        ...

    async def presence(self, room: str) -> Presence:
        """Connections in a room across replicas."""
        ...


class LocalBroker:
    """Fan-out for a single process: publishing is delivering."""

    def __init__(self, rooms: LocalRooms | None = None) -> None:
        self.rooms = rooms or LocalRooms()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def join(self, connection: Connection) -> None:
        """Add the connection to its room."""
        self.rooms.add(connection)
        CONNECTIONS.inc()

    async def leave(self, connection: Connection) -> None:
        """Remove the connection from its room."""
        self.rooms.remove(connection)
        CONNECTIONS.dec()

    async def publish(self, room: str, frame: str, *, presence: bool = False) -> None:
        """Offer the frame to the room's sockets."""
        self.rooms.deliver(room, frame, presence=presence)

    async def presence(self, room: str) -> Presence:
        """This process is the whole room."""
        return self.rooms.presence(room)
