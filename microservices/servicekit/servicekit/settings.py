"""Settings shared by every service, read from the environment, then `.env`, then defaults.

Platform-wide values (data dir, log level, token issuer) use plain names such as
``DATA_DIR``; values that differ per service carry the service's prefix, such as
``ACCOUNTS_DATABASE_URL``, so that ``make run`` can start all five from one environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def service_settings_config(prefix: str) -> SettingsConfigDict:
    """The settings config every service uses: its env prefix, `.env`, unknown keys ignored."""
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and sets ``service_name`` and its prefix."""

    # Written out (not built by the function above) so that mypy's pydantic plugin sees
    # populate_by_name and accepts `Settings(data_dir=...)`.
    model_config = SettingsConfigDict(
        env_prefix="SERVICE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # The service's name is fixed by its code (it names its data dir), never by configuration.
    service_name: ClassVar[str] = "service"

    data_dir: Path = Field(default=Path("data"), validation_alias="DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    # Empty means: a SQLite file under the service's data dir.
    database_url: str = ""

    jwks_url: str = Field(
        default="http://127.0.0.1:8001/.well-known/jwks.json", validation_alias="JWKS_URL"
    )
    jwt_issuer: str = Field(default="http://localhost:8080/accounts", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default="platform", validation_alias="JWT_AUDIENCE")
    # How long verified JWKS keys are trusted before a refresh.
    jwks_cache_seconds: int = Field(default=300, validation_alias="JWKS_CACHE_SECONDS")

    @property
    def service_data_dir(self) -> Path:
        """This service's own directory under the platform data dir."""
        return self.data_dir / self.service_name

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the default SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.service_data_dir / f'{self.service_name}.db').resolve()}"
