"""Fixtures for the storage-layer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from index import IndexStore
from tests.index.helpers import open_store


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IndexStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()
