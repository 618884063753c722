"""Fixtures for end-to-end tests: every test gets its own backend and hub processes."""

import pytest

from tests.e2e.harness import Backend, HubProcess


@pytest.fixture
def backend(tmp_path):
    backend = Backend(tmp_path)
    yield backend
    backend.drop()


@pytest.fixture
def start_hub(backend):
    """start_hub(**env) -> a running HubProcess; all are stopped at the end."""
    started: list[HubProcess] = []

    def start(env: dict[str, str] | None = None, **kwargs) -> HubProcess:
        hub = HubProcess(backend, env=env, name=f"proc{len(started)}", **kwargs).start()
        started.append(hub)
        return hub

    yield start
    for hub in reversed(started):
        hub.stop()
