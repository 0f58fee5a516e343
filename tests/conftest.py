"""System tests: the real platform (uvicorn processes and Nginx) on free ports, via the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole platform, started once for the session with a temporary data dir."""
    data_dir: Path = tmp_path_factory.mktemp("platform")
    # Generous auth limits so the suite's own sign-ups are not throttled; the rate-limit
    # test exceeds them on purpose.
    with Stack(
        data_dir=data_dir,
        gateway={"GATEWAY_AUTH_RATE": "50r/s", "GATEWAY_AUTH_BURST": "100"},
    ) as running:
        yield running


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client whose base URL is the gateway."""
    with httpx.Client(base_url=stack.gateway_url, timeout=10.0) as client:
        yield client
