"""Fixtures for the reliability tests: a generated corpus for the crash tests, and the fake-engine HTTP harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.settings import Settings
from tests.api.helpers import Harness
from tests.reliability.crash import Version, expected_versions, make_corpus

N_DOCS = 40


@pytest.fixture(scope="session")
def crash_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, Version]]]:
    """(old: version 1 of docs 0–19, new: version 2 of docs 0–39, every version's token and chunk count)."""
    root = tmp_path_factory.mktemp("corpus")
    old = make_corpus(root / "old", range(N_DOCS // 2), 1)
    new = make_corpus(root / "new", range(N_DOCS), 2)
    return old, new, expected_versions([old, new], Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()
