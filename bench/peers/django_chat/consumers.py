"""The consumer equivalent to our chat's: join the room's group, group_send what arrives."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """One WebSocket in a room: every message received is broadcast to the whole group."""

    async def connect(self) -> None:
        """Join the room's group, then accept."""
        self.group_name = "chat_" + self.scope["url_route"]["kwargs"]["room_name"]
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        """Leave the group."""
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Broadcast the message with the fields our chat relays."""
        data = json.loads(text_data or "{}")
        await self.channel_layer.group_send(
            self.group_name,
            {
                "type": "chat.message",
                "message": data.get("message"),
                "phone_number": data.get("phone_number"),
                "avatar": data.get("avatar"),
            },
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        """Deliver one group message to this socket."""
        await self.send(
            text_data=json.dumps(
                {
                    "message": event["message"],
                    "phone_number": event["phone_number"],
                    "avatar": event["avatar"],
                }
            )
        )
