"""ASGI entry point of the chat peer (``uvicorn bench.peers.django_chat.asgi:application``)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.django_chat.settings")

from django.core.asgi import get_asgi_application

http_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after Django setup
from django.urls import re_path  # noqa: E402

from bench.peers.django_chat.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": URLRouter([re_path(r"^ws/(?P<room_name>[\w-]+)$", ChatConsumer.as_asgi())]),
    }
)
