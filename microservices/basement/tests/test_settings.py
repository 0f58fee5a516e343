"""Settings read from the environment the way .env.example writes them."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_an_empty_storage_dir_means_the_data_dir_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BASEMENT_STORAGE_DIR", "")
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_storage_dir == tmp_path / "basement" / "files"


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEMENT_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("BASEMENT_STORAGE_DIR", "/srv/files")
    settings = Settings()
    assert settings.max_upload_bytes == 1234
    assert settings.effective_storage_dir == Path("/srv/files")


def test_an_invalid_default_bucket_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError):
        Settings(default_bucket="Not A Bucket")
