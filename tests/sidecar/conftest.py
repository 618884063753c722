"""Fixtures for the sidecar tests: a fake hub and sidecar processes cleaned up after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sidecar.harness import FakeHub, SidecarProcess


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    async with FakeHub() as fake_hub:
        yield fake_hub


@pytest.fixture
def make_sidecar(tmp_path: Path) -> Iterator[Callable[..., SidecarProcess]]:
    made: list[SidecarProcess] = []

    def make(config: dict[str, Any], **env: str) -> SidecarProcess:
        sidecar = SidecarProcess(tmp_path, config, **env)
        made.append(sidecar)
        return sidecar

    yield make
    for sidecar in made:
        sidecar.kill()
