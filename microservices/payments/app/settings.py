"""Payments service settings (environment variables prefixed `PAYMENTS_`)."""

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the payments service; see `.env.example` for every variable."""

    model_config = service_settings_config("PAYMENTS_")

    service_name: str = "payments"
