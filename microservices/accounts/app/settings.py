"""Accounts service settings (environment variables prefixed `ACCOUNTS_`)."""

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from servicekit import ServiceSettings, service_settings_config
from servicekit.money import check_currency


class Settings(ServiceSettings):
    """Settings of the accounts service; see `.env.example` for every variable."""

    model_config = service_settings_config("ACCOUNTS_")

    service_name: ClassVar[str] = "accounts"

    # Tokens. Access tokens are short-lived JWTs; refresh tokens are opaque and single-use.
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    # A PEM RSA private key to sign with, instead of keys generated under DATA_DIR/accounts/keys
    # (needed when replicas do not share a data dir). The previous one stays published.
    signing_key_pem: SecretStr = SecretStr("")
    previous_signing_key_pem: SecretStr = SecretStr("")

    # Argon2id cost; the defaults are RFC 9106's second recommended option.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=1024)
    password_hash_parallelism: int = Field(default=4, ge=1)
    # At most this many hashes at once per process: each one holds memory_kib of RAM.
    password_hash_concurrency: int = Field(default=2, ge=1)

    # The first admin, created (or promoted) at start-up when both are set.
    admin_phone: str = ""
    admin_password: SecretStr = SecretStr("")

    # Platform-wide: the ledger's currency, and the secret payments signs its events with.
    ledger_currency: str = Field(default="USD", validation_alias="LEDGER_CURRENCY")
    payment_events_secret: SecretStr = Field(
        default=SecretStr(""), validation_alias="PAYMENT_EVENTS_SECRET"
    )

    @field_validator("ledger_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return check_currency(value)
