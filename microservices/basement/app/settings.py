"""Basement service settings (environment variables prefixed `BASEMENT_`)."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from app.blobs import is_valid_bucket_name
from servicekit import ServiceSettings, service_settings_config


class Settings(ServiceSettings):
    """Settings of the basement service; see `.env.example` for every variable."""

    model_config = service_settings_config("BASEMENT_")

    service_name: ClassVar[str] = "basement"

    # Largest accepted file (the file part of an upload, in bytes); larger uploads get 413.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    # Images with more pixels than this are refused (422) before any pixel is decoded.
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    # Thumbnails fit in a square of this many pixels.
    thumbnail_size: int = Field(default=300, ge=16, le=2048)
    # Images decoded at once; the rest wait, so big uploads cannot starve the process.
    thumbnail_concurrency: int = Field(default=2, ge=1, le=64)
    # Where file bytes live (one directory per bucket); empty means DATA_DIR/basement/files.
    storage_dir: Path | None = None
    default_bucket: str = "chat-bucket"

    @field_validator("storage_dir", mode="before")
    @classmethod
    def _empty_means_default(cls, value: object) -> object:
        # `BASEMENT_STORAGE_DIR=` (as in .env.example) must not become Path("") == cwd.
        return None if value == "" else value

    @field_validator("default_bucket")
    @classmethod
    def _valid_bucket(cls, value: str) -> str:
        if not is_valid_bucket_name(value):
            raise ValueError("BASEMENT_DEFAULT_BUCKET must be a valid S3-style bucket name")
        return value

    @property
    def effective_storage_dir(self) -> Path:
        """The configured storage directory, or the default one under the data dir."""
        return self.storage_dir or self.service_data_dir / "files"
