"""Resume service settings (environment variables prefixed `RESUME_`)."""

from typing import ClassVar

from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the resume service; see `.env.example` for every variable."""

    model_config = service_settings_config("RESUME_")

    service_name: ClassVar[str] = "resume"
