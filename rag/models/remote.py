"""A generator served by any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, ...).

``OpenAICompatibleGenerator`` implements the ``Generator`` protocol by streaming ``POST {base_url}/chat/completions``
with ``stream: true`` and greedy settings (``temperature: 0``). It is chosen by ``rag.engine`` when
``RAGQA_GENERATOR_URL`` is set; the local generator is then never loaded.

Failures are typed: a connection error, a timeout, a 5xx answer, a 429 or a broken stream raise
``GeneratorUnavailableError`` (the API answers 503 + ``Retry-After`` or sends an SSE ``error`` event); any other
4xx (a wrong model name, a refused key) raises ``ModelError``. Setting the ``cancel`` event closes the upstream
response at once, even while the server is still thinking about its first token.

``count_tokens`` has no tokenizer of the remote model: it estimates one token per 4 characters (rounded up), which
is close for English with BPE vocabularies; it is used only for budgets and reports, never for correctness.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from rag.errors import GenerationCancelled, GeneratorUnavailableError, ModelError
from rag.models.generator import ChatMessage

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
"""The estimate ``count_tokens`` uses (no tokenizer of the remote model is available locally)."""
_CANCEL_POLL_S = 0.05


class OpenAICompatibleGenerator:
    """Greedy streaming chat completions from ``base_url`` (e.g. ``http://gpu-box:8000/v1``)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        retry_after_s: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ModelError(f"generator_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ModelError("generator_model must name the model to request from the generator server")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_id = model
        self.retry_after_s = retry_after_s
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def count_tokens(self, text: str) -> int:
        """An estimate: ``ceil(len(text) / 4)`` (see the module docstring)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def close(self) -> None:
        self._client.close()

    def _payload(self, messages: Sequence[ChatMessage], max_new_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_new_tokens,
            "temperature": 0,
            "top_p": 1,
            "stream": True,
        }

    def _unavailable(self, why: str) -> GeneratorUnavailableError:
        return GeneratorUnavailableError(f"the generator server at {self.base_url} {why}", self.retry_after_s)

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        if max_new_tokens <= 0:
            return
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation cancelled")
        request = self._client.build_request("POST", self.endpoint, json=self._payload(messages, max_new_tokens))
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise self._unavailable("did not answer in time") from None
        except httpx.TransportError as exc:
            raise self._unavailable(f"cannot be reached ({type(exc).__name__}: {exc})") from None
        closer = _CloseOnCancel(response, cancel)
        try:
            self._check_status(response)
            yield from self._pieces(response, cancel)
        except httpx.TimeoutException:
            raise self._unavailable("stopped sending in the middle of an answer (timeout)") from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled") from None
            raise self._unavailable(f"broke off the stream ({type(exc).__name__})") from None
        finally:
            closer.stop()
            response.close()

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            detail = response.read().decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        except httpx.HTTPError:
            detail = ""
        status = response.status_code
        if status >= 500 or status == 429:
            raise self._unavailable(f"answered HTTP {status}: {detail}")
        raise ModelError(f"the generator server at {self.base_url} refused the request (HTTP {status}): {detail}")

    def _pieces(self, response: httpx.Response, cancel: threading.Event | None) -> Iterator[str]:
        for line in response.iter_lines():
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments, "event:" lines
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise self._unavailable("sent a malformed stream frame") from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise self._unavailable(f"reported an error: {str(chunk['error'])[:200]}")
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
                if content:
                    yield str(content)
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation cancelled")


class _CloseOnCancel:
    """A small watcher thread that closes ``response`` as soon as ``cancel`` is set (unblocking a pending read)."""

    def __init__(self, response: httpx.Response, cancel: threading.Event | None) -> None:
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if cancel is None:
            return

        def watch() -> None:
            while not self._done.is_set():
                if cancel.wait(_CANCEL_POLL_S):
                    log.info("generation cancelled: closing the upstream stream")
                    _shutdown_socket(response)  # unblocks a read that is waiting for the server
                    response.close()
                    return

        self._thread = threading.Thread(target=watch, name="ragqa-remote-cancel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


def _shutdown_socket(response: httpx.Response) -> None:
    """Shut the response's TCP socket down for both directions (a blocked ``recv`` then returns at once)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
