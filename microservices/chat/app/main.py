"""Chat service: wiring only."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.brokers import Broker, LocalBroker
from app.chat import ChatLimits, ChatService
from app.routes import STATIC_DIR, router
from app.settings import Settings
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def chat_limits(settings: Settings) -> ChatLimits:
    """The per-connection limits the settings ask for."""
    return ChatLimits(
        max_message_length=settings.max_message_length,
        send_queue_size=settings.send_queue_size,
        send_timeout=settings.send_timeout_seconds,
        rate_per_second=settings.rate_limit_per_second,
        rate_burst=settings.rate_limit_burst,
        rate_strikes=settings.rate_limit_strikes,
        ping_interval=settings.ping_interval_seconds,
    )


@asynccontextmanager
async def chat_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the broker (Redis or in-memory) and the pinger; stop them at shutdown."""
    settings: Settings = app.state.settings
    broker: Broker
    if settings.redis_url:
        from app.redis_broker import RedisBroker  # only replicas need Redis: import it lazily

        redis_broker = RedisBroker.from_url(
            settings.redis_url, presence_ttl=settings.presence_ttl_seconds
        )
        app.state.readiness_checks["redis"] = redis_broker.ping
        broker = redis_broker
    else:
        broker = LocalBroker()
    await broker.start()
    chat = ChatService(app.state.db, broker, chat_limits(settings))
    app.state.chat = chat
    chat.start()
    pinger = asyncio.create_task(chat.ping_forever(), name="chat-pinger")
    try:
        yield
    finally:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
        await chat.stop()
        await broker.stop()


def build_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The chat app for the given settings (from the environment when omitted)."""
    app = create_app(
        settings or Settings(),
        routers=[router],
        title="Chat service",
        description="WebSocket chat rooms with history and fan-out across replicas.",
        migrations=MIGRATIONS,
        lifespan=chat_lifespan,
        **overrides,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = build_app()
