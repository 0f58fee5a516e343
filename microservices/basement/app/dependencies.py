"""FastAPI dependencies: what the routes get from the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.blobs import BlobStore
from app.files import FileLibrary
from app.settings import Settings


def get_library(request: Request) -> FileLibrary:
    """The app's file library (built at start-up)."""
    library: FileLibrary = request.app.state.files
    return library


def get_blobs(request: Request) -> BlobStore:
    """The app's blob store."""
    blobs: BlobStore = request.app.state.files.blobs
    return blobs


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def root_path(request: Request) -> str:
    """The prefix the gateway serves us under (``/basement``), or empty when called directly."""
    prefix: str = request.scope.get("root_path", "")
    return prefix


Library = Annotated[FileLibrary, Depends(get_library)]
Blobs = Annotated[BlobStore, Depends(get_blobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RootPath = Annotated[str, Depends(root_path)]
