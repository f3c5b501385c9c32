"""The ready-to-load int8 generator in the model cache, and loading the generator in the background, on the small
test model (SmolLM2-135M): the cached weights give exactly the same greedy output as quantising afresh."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.answer import stream_answer
from rag.answer_types import Answer, TokenEvent
from rag.engine import Engine
from rag.models.generator import (
    ChatMessage,
    TransformersGenerator,
    _int8_linears,
    _load_int8,
    int8_cache_path,
)
from rag.models.resolve import ResolvedModel, resolve
from rag.settings import get_settings
from tests.api.helpers import ingest_seed
from tests.conftest import HEADLINE, make_settings

pytestmark = pytest.mark.slow


def _load_int8_copying(
    resolved: ResolvedModel, path: Path, kwargs: dict[str, Any], float_layers: frozenset[str]
) -> Any:
    """The former way of :func:`_load_int8`, the reference the mapped load is compared with: read the whole file,
    make a full-size dynamic int8 linear for each linear, and load the state dict into the model (copying)."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_utils import no_init_weights

    state = torch.load(path, map_location="cpu", weights_only=True)
    config = AutoConfig.from_pretrained(resolved.location, **kwargs)
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    for name, child in _int8_linears(model, float_layers):
        parent, _, child_name = name.rpartition(".")
        q = DynamicLinear(child.in_features, child.out_features, bias_=child.bias is not None)
        setattr(model.get_submodule(parent), child_name, q)
    model.load_state_dict(state, strict=True)
    return model


SMALL = "smollm2-135m-instruct"
MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Name two colours.")]


@pytest.fixture(scope="module")
def resolved() -> ResolvedModel:
    return resolve(SMALL, "generator", get_settings().models_dir, progress=False)


def test_int8_weights_are_kept_and_reloaded_with_the_same_output(resolved: ResolvedModel, tmp_path: Path) -> None:
    cache = int8_cache_path(tmp_path / "models", resolved)
    assert cache.parent == tmp_path / "models" / "_int8"
    fresh = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    assert fresh.quantized and not fresh.from_int8_cache
    assert cache.is_file()
    expected = "".join(fresh.stream(MESSAGES, max_new_tokens=16))

    cached = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    assert cached.quantized and cached.from_int8_cache
    assert "".join(cached.stream(MESSAGES, max_new_tokens=16)) == expected


@pytest.mark.parametrize("float_layers", [frozenset(), frozenset({"down_proj"})], ids=["all-int8", "judge-layout"])
def test_the_mapped_load_gives_the_same_logits_as_the_copying_load(
    resolved: ResolvedModel, tmp_path: Path, float_layers: frozenset[str]
) -> None:
    """The int8 file is memory-mapped, its float tensors assigned without a copy and each int8 linear packed once:
    the same model, bit for bit, as reading the file and loading it into full-size int8 linears (the former way),
    and as quantising afresh."""
    import torch

    cache = int8_cache_path(tmp_path, resolved, float_layers)
    fresh = TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache, float_layers=float_layers)
    assert cache.is_file() and not fresh.from_int8_cache
    mapped = _load_int8(resolved, cache, {}, float_layers)
    copied = _load_int8_copying(resolved, cache, {}, float_layers)
    assert mapped is not None
    assert set(mapped.state_dict()) == set(copied.state_dict())
    ids = torch.tensor([fresh._tokenizer.encode("The capital of France is Paris, and the capital of Spain is")])
    with torch.inference_mode():
        logits = [m.eval()(input_ids=ids).logits for m in (mapped, copied, fresh._model)]
    assert torch.equal(logits[0], logits[1])
    assert torch.equal(logits[0], logits[2])
    kept = [name for name, m in mapped.named_modules() if type(m) is torch.nn.Linear]
    assert all(name.endswith("down_proj") for name in kept) and bool(kept) == bool(float_layers)


def test_an_int8_file_of_another_shape_is_rejected(
    resolved: ResolvedModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    cache = int8_cache_path(tmp_path, resolved)
    TransformersGenerator(resolved, quantize_int8=True, int8_cache=cache)
    state = torch.load(cache, weights_only=True)
    key = next(k for k in state if k.endswith("mlp.up_proj._packed_params._packed_params"))
    weight, bias = state[key]
    state[key] = (weight[:-1], bias)  # one output channel short
    torch.save(state, cache)
    with caplog.at_level(logging.WARNING):
        assert _load_int8(resolved, cache, {}, frozenset()) is None
    assert "int8 weight of shape" in caplog.text
    del state[key]
    torch.save(state, cache)
    assert _load_int8(resolved, cache, {}, frozenset()) is None  # a missing linear


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

    engine.ensure_generator = gated  # type: ignore[method-assign,assignment]
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
