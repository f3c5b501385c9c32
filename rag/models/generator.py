"""Generators: the ``Generator`` protocol, a local ``transformers`` causal LM, and a scripted fake for tests."""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ModelError
from rag.models.resolve import ResolvedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


class GenerationCancelled(Exception):
    """Raised inside a stream when its cancel event is set (e.g. the HTTP client went away)."""


class Generator(Protocol):
    model_id: str

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        """Yield text pieces of a greedy completion; stops at end-of-turn or ``max_new_tokens``."""
        ...

    def count_tokens(self, text: str) -> int: ...


_MISTRAL_FAMILY = frozenset({"mistral", "mistral3", "voxtral", "ministral", "pixtral"})


def tokenizer_kwargs(location: str) -> dict[str, Any]:
    """Extra ``AutoTokenizer.from_pretrained`` arguments for a local model folder.

    transformers 4.57.3+ suspects every local folder whose config.json was written by a 4.57.x release of having
    Mistral's broken pre-tokenizer regex, and warns "incorrect regex pattern … will lead to incorrect
    tokenization" — also for Qwen2, whose regex is its own and correct (tokens checked against the published
    pattern in ``tests/rag/test_tokenizer_real.py``). A folder whose model is not of the Mistral family is told so
    (``fix_mistral_regex=False``): nothing is rewritten, and the false warning is gone at its cause."""
    config = Path(location) / "config.json"
    if not config.is_file():
        return {}
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return {}
    return {} if model_type in _MISTRAL_FAMILY else {"fix_mistral_regex": False}


class TransformersGenerator:
    """A local causal LM through ``transformers``: greedy decoding with a KV cache, optional dynamic int8."""

    def __init__(
        self, resolved: ResolvedModel, *, device: str = "cpu", quantize_int8: bool = False, threads: int = 0
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = resolved.model_id
        self.quantized = False
        if threads > 0:
            torch.set_num_threads(threads)
        started = time.perf_counter()
        kwargs: dict[str, Any] = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                resolved.location, **kwargs, **tokenizer_kwargs(resolved.location)
            )
            model = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=torch.float32, **kwargs)
        except Exception as exc:
            raise ModelError(f"cannot load generator {resolved.setting!r}: {exc}") from exc
        model.eval()
        if device != "cpu":
            model = model.to(device)  # type: ignore[arg-type]
        elif quantize_int8:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self.quantized = True
        self._model = model
        self._device = device
        self._torch = torch
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            tid = self._tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self._tokenizer.unk_token_id:
                eos_ids.add(tid)
        if self._tokenizer.eos_token_id is not None:
            eos_ids.add(self._tokenizer.eos_token_id)
        self._eos = eos_ids
        self._lock = threading.Lock()  # one generation at a time per model instance
        log.info(
            "loaded generator %s in %.1fs (int8=%s)",
            self.model_id,
            time.perf_counter() - started,
            self.quantized,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def render(self, messages: Sequence[ChatMessage]) -> str:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        return str(self._tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        torch = self._torch
        prompt = self.render(messages)
        ids = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self._device)
        with self._lock, torch.inference_mode():
            generated: list[int] = []
            emitted = ""
            past = None
            step_input = ids
            for _ in range(max_new_tokens):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("generation cancelled")
                out = self._model(input_ids=step_input, past_key_values=past, use_cache=True)
                past = out.past_key_values
                next_id = int(out.logits[0, -1].argmax())
                if next_id in self._eos:
                    break
                generated.append(next_id)
                text = self._tokenizer.decode(generated, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the next token
                    step_input = torch.tensor([[next_id]], device=self._device)
                    continue
                if len(text) > len(emitted):
                    yield text[len(emitted) :]
                    emitted = text
                step_input = torch.tensor([[next_id]], device=self._device)


class ScriptedGenerator:
    """Deterministic fake: ``respond(messages)`` returns the full completion, streamed word by word. Tests only."""

    model_id = "scripted-generator"

    def __init__(self, respond: Callable[[Sequence[ChatMessage]], str]) -> None:
        self._respond = respond
        self.calls: list[Sequence[ChatMessage]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.calls.append(messages)
        words = self._respond(messages).split(" ")
        for i, word in enumerate(words[:max_new_tokens]):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            yield word if i == 0 else " " + word
