"""Fixtures shared by every test folder.

Two tiers:

* fast: ``settings``, ``fake_engine`` / ``make_fake_engine`` and ``fake_models`` build an ``Engine`` from the
  deterministic fakes in ``tests.fakes`` (``HashEmbedder``, ``OverlapReranker``, ``ScriptedGenerator``) — no model
  files, milliseconds per test.
* slow: ``real_models_settings`` and ``seed_engine`` load the real default models (installed into the default models
  dir by ``make install``/``ragqa models install``; a missing model is fetched, never skipped). Tests that use them
  are marked ``slow`` automatically.

Subfolders add their own fixtures in their own ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from index import open_store
from rag.engine import Engine, store_target
from rag.models.generator import ChatMessage
from rag.settings import Settings, get_settings
from tests.fakes import HashEmbedder, OverlapJudge, OverlapReranker, ScriptedGenerator

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "seeds"
SEED_SOURCE = "seoul-arms-ukraine.txt"
HEADLINE = "Why is Seoul reconsidering arms to Ukraine?"

FAKE_DIMENSION = 64
SCRIPTED_ANSWER = "This is a scripted answer."

# Fixtures that load the real models: a test using one of them is a slow test.
_REAL_MODEL_FIXTURES = frozenset({"real_models_settings", "seed_engine"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _REAL_MODEL_FIXTURES and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
        parts = Path(str(item.fspath)).resolve().parts
        if "e2e" in parts[len(REPO_ROOT.parts) :] and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)


# ---------------------------------------------------------------- settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: this data dir, the default models dir, no ``.env`` file (env variables still apply)."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _fresh_cached_settings() -> Iterator[None]:
    """``get_settings()`` is cached; a test that changes the environment must not leak into the next one."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


# ---------------------------------------------------------------- fakes


def scripted_answer(messages: Sequence[ChatMessage]) -> str:
    return SCRIPTED_ANSWER


def build_fake_engine(
    settings: Settings,
    *,
    respond: Callable[[Sequence[ChatMessage]], str] = scripted_answer,
    embedder: Any = None,
    reranker: bool = True,
    create: bool = True,
) -> Engine:
    """An ``Engine`` over ``settings.data_dir`` with the fakes: HashEmbedder(64), OverlapReranker, ScriptedGenerator,
    OverlapJudge."""
    emb = embedder if embedder is not None else HashEmbedder(FAKE_DIMENSION)
    store = open_store(  # the store the settings name (RAGQA_STORE): FAISS by default, or Milvus
        store_target(settings),
        embedder_id=emb.model_id,
        embedder_checksum=emb.checksum,
        dimension=emb.dimension,
        create=create,
    )
    return Engine(
        settings=settings,
        store=store,
        embedder=emb,
        reranker=OverlapReranker() if reranker else None,
        generator=ScriptedGenerator(respond),
        judge=OverlapJudge(),
    )


@pytest.fixture
def make_fake_engine(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Factory: ``make_fake_engine(settings=None, respond=..., embedder=..., reranker=True)``; closed at teardown."""
    engines: list[Engine] = []

    def make(settings: Settings | None = None, **kwargs: Any) -> Engine:
        engine = build_fake_engine(settings or make_settings(tmp_path / "data"), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def fake_engine(settings: Settings, make_fake_engine: Callable[..., Engine]) -> Engine:
    return make_fake_engine(settings)


class FakeModelLoads:
    """Counts the ``Engine.load`` calls that ``fake_models`` answered."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.embedder: Any = None  # None: a fresh HashEmbedder(64) per load

    @property
    def count(self) -> int:
        return len(self.calls)


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> FakeModelLoads:
    """Make ``Engine.load`` (and so the CLI, in-process) build engines from the fakes instead of the real models.

    Set ``fake_models.embedder`` to use a particular embedder (e.g. one that fails or has another id).
    """
    loads = FakeModelLoads()

    def load(
        cls: type[Engine],
        settings: Settings,
        *,
        reranker: bool = True,
        generator: bool = False,
        create: bool = True,
        progress: bool = False,
    ) -> Engine:
        loads.calls.append({"data_dir": settings.data_dir, "reranker": reranker, "create": create})
        return build_fake_engine(
            settings, embedder=loads.embedder, reranker=reranker and settings.rerank, create=create
        )

    monkeypatch.setattr(Engine, "load", classmethod(load))
    return loads


# ---------------------------------------------------------------- real models (slow)


@pytest.fixture(scope="session")
def real_models_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default real models and models dir; a session data dir that starts empty."""
    return make_settings(tmp_path_factory.mktemp("real") / "data")


@pytest.fixture(scope="session")
def seed_engine(real_models_settings: Settings) -> Iterator[Engine]:
    """The real embedder + reranker over an index of ``seeds/``; the generator is loaded on demand
    (``engine.ensure_generator()``). Shared by the whole session: do not change its index."""
    from rag.ingest import ingest_paths

    engine = Engine.load(real_models_settings, reranker=True)
    summary = ingest_paths(engine, [SEEDS_DIR], progress=False)
    assert not summary.failed, summary.failed
    yield engine
    engine.close()


# ---------------------------------------------------------------- Milvus


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ``milvus-lite server`` on a free port for the whole session (several clients, like a Milvus deployment)."""
    from tests.milvus import MilvusServer

    server = MilvusServer(tmp_path_factory.mktemp("milvus") / "data").start()
    yield server
    server.stop()
