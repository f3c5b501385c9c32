"""create_app / app_from_env and the lifespan: the engine is loaded once, and closed on shutdown when it owns it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import app_from_env, create_app
from api.generation import GenerationPool
from rag.settings import get_settings
from tests.api.helpers import Harness, api_settings
from tests.conftest import FakeModelLoads


def test_lifespan_loads_and_closes_the_engine(tmp_path: Path, fake_models: FakeModelLoads) -> None:
    app = create_app(api_settings(tmp_path / "data"))
    state = app.state.ragqa
    assert state.engine is None and fake_models.count == 0  # nothing heavy before startup
    with TestClient(app) as client:
        assert fake_models.count == 1
        assert client.get("/readyz").status_code == 200
        assert client.get("/readyz").status_code == 200
        engine = state.engine
        assert isinstance(state.pool, GenerationPool)
    assert fake_models.count == 1
    assert state.engine is None and state.pool is None
    with pytest.raises(Exception, match="closed"):
        engine.store.stats()


def test_injected_engine_is_not_closed(harness: Harness) -> None:
    engine = harness.engine()
    with TestClient(create_app(engine.settings, engine)):
        pass
    assert engine.store.stats().documents == 1


def test_app_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_models: FakeModelLoads) -> None:
    monkeypatch.setenv("RAGQA_DATA_DIR", str(tmp_path / "envdata"))
    monkeypatch.setenv("RAGQA_MAX_K", "7")
    get_settings.cache_clear()
    app = app_from_env()
    with TestClient(app) as client:
        assert fake_models.calls[0]["data_dir"] == tmp_path / "envdata"
        r = client.get("/v1/search", params={"q": "anything", "k": 8})
        assert r.status_code == 422 and "max_k=7" in r.json()["error"]["message"]


def test_generation_pool_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="generation_workers"):
        GenerationPool(0, 1)
    with pytest.raises(ValueError, match="generation_queue"):
        GenerationPool(1, -1)
