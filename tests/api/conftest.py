"""Fixtures for the HTTP tests: apps over the fake engine (fast), always entered with ``with TestClient(app)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Harness, api_settings

__all__ = ["Harness", "api_settings"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


@pytest.fixture
def client(harness: Harness) -> TestClient:
    """The app over a fake engine holding the seed article; the generator copies the best evidence sentence."""
    return harness.client()


@pytest.fixture
def make_client(harness: Harness) -> Callable[..., TestClient]:
    return harness.client
