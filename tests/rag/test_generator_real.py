"""The real ``transformers`` generator path on the small test model (SmolLM2-135M, converted from GGUF once)."""

from __future__ import annotations

import threading

import pytest

from rag.errors import GenerationCancelled
from rag.models.generator import ChatMessage, TransformersGenerator
from rag.models.resolve import resolve
from rag.settings import get_settings

MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Name a colour.")]


@pytest.fixture(scope="module", params=[False, True], ids=["fp32", "int8"])
def small_generator(request: pytest.FixtureRequest) -> TransformersGenerator:
    resolved = resolve("smollm2-135m-instruct", "generator", get_settings().models_dir, progress=False)
    return TransformersGenerator(resolved, quantize_int8=request.param)


@pytest.mark.slow
def test_streams_text_and_stops_at_the_budget(
    small_generator: TransformersGenerator, request: pytest.FixtureRequest
) -> None:
    pieces = list(small_generator.stream(MESSAGES, max_new_tokens=8))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert small_generator.count_tokens("".join(pieces)) <= 10
    assert "<|im_end|>" not in "".join(pieces)
    assert small_generator.quantized is request.node.callspec.params["small_generator"]


@pytest.mark.slow
def test_greedy_decoding_is_deterministic(small_generator: TransformersGenerator) -> None:
    first = "".join(small_generator.stream(MESSAGES, max_new_tokens=12))
    second = "".join(small_generator.stream(MESSAGES, max_new_tokens=12))
    assert first == second


@pytest.mark.slow
def test_cancel_stops_generation(small_generator: TransformersGenerator) -> None:
    cancel = threading.Event()
    stream = small_generator.stream(MESSAGES, max_new_tokens=40, cancel=cancel)
    next(stream)
    cancel.set()
    with pytest.raises(GenerationCancelled):
        for _ in stream:
            pass
