"""The connections of this replica, grouped by room, and the local fan-out."""

from __future__ import annotations

from collections.abc import Iterator

from app.connection import Connection
from app.protocol import Presence


class LocalRooms:
    """Rooms of this process: which connections to hand each frame to."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Connection]] = {}

    def add(self, connection: Connection) -> None:
        """Put a connection in its room."""
        self._rooms.setdefault(connection.room, {})[connection.id] = connection

    def remove(self, connection: Connection) -> None:
        """Take a connection out of its room (forgetting the room once it is empty)."""
        members = self._rooms.get(connection.room)
        if members is None:
            return
        members.pop(connection.id, None)
        if not members:
            del self._rooms[connection.room]

    def deliver(self, room: str, frame: str, *, presence: bool = False) -> int:
        """Offer a frame to every connection in the room without waiting on any socket.

        Presence frames go only to the connections that asked for them. Returns how many
        connections took the frame.
        """
        members = self._rooms.get(room)
        if not members:
            return 0
        # A slow consumer's offer marks it for closing; copy so that removal cannot race us.
        delivered = 0
        for connection in list(members.values()):
            if presence and not connection.wants_presence:
                continue
            delivered += connection.offer(frame)
        return delivered

    def broadcast_everywhere(self, frame: str) -> None:
        """Offer a frame to every connection of this replica (pings)."""
        for connection in list(self.connections()):
            connection.offer(frame)

    def connections(self, room: str | None = None) -> Iterator[Connection]:
        """The connections of one room, or of every room."""
        if room is not None:
            yield from self._rooms.get(room, {}).values()
            return
        for members in self._rooms.values():
            yield from members.values()

    def room_names(self) -> list[str]:
        """Rooms with at least one connection here."""
        return list(self._rooms)

    def presence(self, room: str) -> Presence:
        """Who is in a room on this replica."""
        return Presence.from_labels([c.identity.member_label for c in self.connections(room)])
