"""Basement service settings (environment variables prefixed `BASEMENT_`)."""

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the basement service; see `.env.example` for every variable."""

    model_config = service_settings_config("BASEMENT_")

    service_name: str = "basement"
