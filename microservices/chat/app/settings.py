"""Chat service settings (environment variables prefixed `CHAT_`)."""

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the chat service; see `.env.example` for every variable."""

    model_config = service_settings_config("CHAT_")

    service_name: str = "chat"
