"""The ready-to-load int8 generator in the model cache, and loading the generator in the background, on the small
test model (SmolLM2-135M): the cached weights give exactly the same greedy output as quantising afresh."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rag.answer import stream_answer
from rag.answer_types import Answer, TokenEvent
from rag.engine import Engine
from rag.models.generator import ChatMessage, TransformersGenerator, int8_cache_path
from rag.models.resolve import ResolvedModel, resolve
from rag.settings import get_settings
from tests.api.helpers import ingest_seed
from tests.conftest import HEADLINE, make_settings

pytestmark = pytest.mark.slow

SMALL = "smollm2-135m-instruct"
MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Name two colours.")]


@pytest.fixture(scope="module")
def resolved() -> ResolvedModel:
    return resolve(SMALL, "generator", get_settings().models_dir, progress=False)


def test_int8_weights_are_kept_and_reloaded_with_the_same_output(resolved: ResolvedModel, tmp_path: Path) -> None:
    cache = int8_cache_path(tmp_path / "models", resolved)
    assert cache.parent == tmp_path / "models" / "_int8"
    cache.parent.mkdir(parents=True)
    stale = cache.with_name(cache.stem.rsplit("-", 1)[0] + "-0123456789abcdef.pt")  # older versions' weights
    stale.write_bytes(b"old")
    fresh = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    assert fresh.quantized and not fresh.from_int8_cache
    assert cache.is_file() and not stale.exists()
    expected = "".join(fresh.stream(MESSAGES, max_new_tokens=16))

    cached = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    assert cached.quantized and cached.from_int8_cache
    assert "".join(cached.stream(MESSAGES, max_new_tokens=16)) == expected


def test_a_damaged_cache_file_is_ignored_and_rewritten(
    resolved: ResolvedModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = int8_cache_path(tmp_path, resolved)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING):
        gen = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    assert not gen.from_int8_cache
    assert "ignoring the int8 generator cache" in caplog.text
    assert cache.stat().st_size > 1000  # rewritten with real weights
    assert TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache).from_int8_cache


def test_the_cache_key_follows_the_weights(resolved: ResolvedModel, tmp_path: Path) -> None:
    other = ResolvedModel(resolved.setting, resolved.location, resolved.kind, resolved.checksum + "x")
    assert int8_cache_path(tmp_path, other) != int8_cache_path(tmp_path, resolved)


def test_the_first_sentence_streams_while_the_generator_loads_in_the_background(
    make_fake_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data", generator=SMALL, quantize_int8=False)  # float32: no cache file
    engine = make_fake_engine(settings)
    ingest_seed(engine)
    engine.generator = None
    release = threading.Event()
    original = engine.ensure_generator
    calls: list[str] = []

    def gated(*, progress: bool = False) -> object:
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "ragqa-load-generator":
            assert release.wait(120), "the first sentence never came"
        return original(progress=progress)

    engine.ensure_generator = gated  # type: ignore[method-assign]
    thread = engine.load_generator_in_background()
    events = stream_answer(engine, HEADLINE)
    first = next(e for e in events if isinstance(e, TokenEvent))
    assert first.text and engine.generator is None  # shown before the generator exists
    release.set()
    answer = next(e for e in events if isinstance(e, Answer))
    thread.join(60)
    assert not answer.refused
    assert isinstance(engine.generator, TransformersGenerator)
    assert calls[0] == "ragqa-load-generator"
