"""Engine.load: the generator is read in parallel with the reranker (cold start of ``ragqa serve``)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rag import engine as engine_module
from rag.engine import Engine
from rag.errors import ModelError
from tests.conftest import FAKE_DIMENSION, make_settings
from tests.fakes import HashEmbedder, OverlapReranker, ScriptedGenerator

WAIT_S = 10.0


@pytest.fixture
def gated_loads(monkeypatch: pytest.MonkeyPatch) -> dict[str, threading.Event]:
    """Fake model loads where the reranker cannot finish before the generator has started loading, and the
    generator cannot finish before the reranker has started: only a parallel load completes."""
    events = {"generator_started": threading.Event(), "reranker_started": threading.Event()}

    def fake_resolve(setting: str, role: str, models_dir: Path, *, progress: bool = False) -> Any:
        return SimpleNamespace(model_id=f"fake-{role}", checksum="fake", setting=setting)

    def fake_embedder(resolved: Any, *, device: str = "cpu") -> HashEmbedder:
        return HashEmbedder(FAKE_DIMENSION)

    def fake_reranker(resolved: Any, *, max_length: int = 256, device: str = "cpu") -> OverlapReranker:
        events["reranker_started"].set()
        if not events["generator_started"].wait(WAIT_S):
            raise ModelError("the generator did not start loading while the reranker loaded")
        return OverlapReranker()

    def fake_build_generator(settings: Any, *, progress: bool = False) -> ScriptedGenerator:
        events["generator_started"].set()
        if not events["reranker_started"].wait(WAIT_S):
            raise ModelError("the reranker did not start loading while the generator loaded")
        return ScriptedGenerator(lambda messages: "fine.")

    monkeypatch.setattr(engine_module, "resolve", fake_resolve)
    monkeypatch.setattr(engine_module, "SentenceTransformerEmbedder", fake_embedder)
    monkeypatch.setattr(engine_module, "CrossEncoderReranker", fake_reranker)
    monkeypatch.setattr(engine_module, "build_generator", fake_build_generator)
    return events


def test_load_reads_the_generator_in_parallel_with_the_reranker(
    gated_loads: dict[str, threading.Event], tmp_path: Path
) -> None:
    engine = Engine.load(make_settings(tmp_path / "data", judge=""), reranker=True, generator=True)
    try:
        assert isinstance(engine.reranker, OverlapReranker)
        assert isinstance(engine.generator, ScriptedGenerator)
        assert set(engine.load_seconds) == {"embedder", "reranker", "generator"}
    finally:
        engine.close()


def test_load_without_the_generator_does_not_start_it(gated_loads: dict[str, threading.Event], tmp_path: Path) -> None:
    engine = Engine.load(make_settings(tmp_path / "data", judge=""), reranker=False, generator=False)
    try:
        assert engine.generator is None and engine.reranker is None
        assert not gated_loads["generator_started"].is_set()
    finally:
        engine.close()


def test_a_failed_generator_load_is_raised_by_load(
    gated_loads: dict[str, threading.Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: Any, *, progress: bool = False) -> ScriptedGenerator:
        gated_loads["generator_started"].set()
        raise ModelError("cannot load generator 'broken'")

    monkeypatch.setattr(engine_module, "build_generator", broken)
    with pytest.raises(ModelError, match="broken"):
        Engine.load(make_settings(tmp_path / "data", judge=""), reranker=True, generator=True)


class _FakeScorer:
    """A ``NextTokenScorer`` for ``LmJudge`` (no model)."""

    model_id = "fake-judge"

    def render(self, messages: Any) -> str:
        return "\n".join(m.content for m in messages)

    def keep_prefix(self, text: str) -> None:
        pass

    def next_token_logprobs(self, messages: Any, words: Any) -> dict[str, float]:
        return dict.fromkeys(words, 0.0)


def test_ask_loads_only_the_judge_ahead_of_the_first_sentence(
    gated_loads: dict[str, threading.Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ragqa ask``: the judge loads in the background; the generator only when the answer path asks for it."""
    built: list[str] = []

    def judge(settings: Any, model: str, *, progress: bool = False, float_layers: Any = None) -> _FakeScorer:
        built.append(f"judge {model}")
        return _FakeScorer()

    def generator(settings: Any, *, progress: bool = False) -> ScriptedGenerator:
        built.append("generator")
        return ScriptedGenerator(lambda messages: "fine.")

    monkeypatch.setattr(engine_module, "build_local_lm", judge)
    monkeypatch.setattr(engine_module, "build_generator", generator)
    settings = make_settings(tmp_path / "data", judge="some-judge", generator="some-generator", rerank=False)
    engine = Engine.load(settings, reranker=False)
    try:
        engine.load_judge_in_background().join(WAIT_S)
        assert built == ["judge some-judge"] and engine.judge is not None and engine.generator is None
        assert isinstance(engine.ensure_generator(), ScriptedGenerator) and built[-1] == "generator"
    finally:
        engine.close()

    no_judge = Engine.load(make_settings(tmp_path / "data2", judge="", rerank=False), reranker=False)
    try:
        no_judge.load_judge_in_background().join(WAIT_S)  # nothing to wait for first: the generator loads at once
        assert isinstance(no_judge.generator, ScriptedGenerator) and no_judge.judge is None
    finally:
        no_judge.close()


def test_a_judge_that_is_the_generator_shares_its_instance(
    gated_loads: dict[str, threading.Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.models.generator import TransformersGenerator

    class SharedLm(_FakeScorer, TransformersGenerator):  # passes the engine's isinstance check, loads nothing
        def __init__(self) -> None:
            pass

    built: list[object] = []

    def one_generator(settings: Any, *, progress: bool = False) -> SharedLm:
        gated_loads["generator_started"].set()
        built.append(SharedLm())
        return built[-1]  # type: ignore[return-value]

    monkeypatch.setattr(engine_module, "build_generator", one_generator)
    settings = make_settings(tmp_path / "data", judge="same-model", generator="same-model")
    engine = Engine.load(settings, reranker=True, generator=True)
    try:
        assert len(built) == 1 and engine.generator is built[0]
        assert engine.judge is not None and engine.judge.model is built[0]  # type: ignore[attr-defined]
    finally:
        engine.close()
