"""Accounts service settings (environment variables prefixed `ACCOUNTS_`)."""

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the accounts service; see `.env.example` for every variable."""

    model_config = service_settings_config("ACCOUNTS_")

    service_name: str = "accounts"
