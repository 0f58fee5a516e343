"""Chat service settings (environment variables prefixed `CHAT_`)."""

from typing import ClassVar

from pydantic import Field

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the chat service; see `.env.example` for every variable."""

    model_config = service_settings_config("CHAT_")

    service_name: ClassVar[str] = "chat"

    # Empty: one process, rooms fanned out in memory. A redis:// URL: every replica publishes
    # and subscribes through Redis, and room presence is counted across replicas.
    redis_url: str = ""
    # False: a WebSocket without a valid token is refused (close 1008).
    allow_anonymous: bool = True
    # Longest chat message accepted, in characters.
    max_message_length: int = Field(default=2000, ge=1, le=100_000)
    # Frames waiting for one client; a client that lets more pile up is disconnected (1013).
    send_queue_size: int = Field(default=64, ge=1, le=10_000)
    # A single frame that takes longer than this to hand to the client disconnects it (1013).
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    # Per-connection token bucket: sustained frames per second and burst.
    rate_limit_per_second: float = Field(default=5.0, gt=0)
    rate_limit_burst: int = Field(default=10, ge=1)
    # Throttled frames in a row after which the client is disconnected (1008).
    rate_limit_strikes: int = Field(default=10, ge=1)
    # Application-level {"type": "ping"} frame to every client this often.
    ping_interval_seconds: float = Field(default=20.0, gt=0)
    # With Redis: how long a replica's presence entries live without a heartbeat.
    presence_ttl_seconds: float = Field(default=30.0, ge=3)
