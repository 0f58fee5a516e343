"""Prometheus metrics of the chat service (served on /metrics with the shared ones)."""

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge(
    "chat_connections", "Open WebSocket connections on this replica.", multiprocess_mode="livesum"
)
MESSAGES = Counter("chat_messages_total", "Chat messages accepted and published.")
REJECTED_FRAMES = Counter(
    "chat_rejected_frames_total",
    "Client frames answered with an error frame, by reason.",
    ["reason"],
)
DISCONNECTS = Counter(
    "chat_disconnects_total",
    "Connections ended, by reason (slow_consumer, stalled, flooding, dropped, ...).",
    ["reason"],
)
BUS_ERRORS = Counter(
    "chat_bus_errors_total", "Failed Redis operations (publish, subscribe, presence, listen)."
)
