"""A scripted OpenAI-compatible chat server (a real uvicorn on 127.0.0.1) for the remote generator's failure paths.

It speaks the same ``POST /v1/chat/completions`` streaming protocol as vLLM / llama.cpp / Ollama, and can be told to
answer 5xx or 4xx, to stall before its first byte or in the middle, or to trickle tokens slowly. It records every
request it got and whether the client went away before the stream ended (to prove that cancel closes upstream).
The happy path is also tested against a real llama.cpp server (``tests/rag/test_remote_generator_llama.py``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tests.api.helpers import LiveServer


@dataclass
class Script:
    words: list[str] = field(default_factory=lambda: ["Hello", " there", ".", " Bye", "."])
    status: int = 200
    delay_first_s: float = 0.0  # before the first byte of the body
    delay_each_s: float = 0.0  # between chunks
    break_after: int | None = None  # send this many chunks, then drop the connection without [DONE]


class ScriptedOpenAIServer:
    """``with ScriptedOpenAIServer() as srv: srv.base_url``; change ``srv.script`` between requests."""

    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.client_went_away = threading.Event()
        self.stream_finished = threading.Event()
        self._live = LiveServer(self._app())

    @property
    def base_url(self) -> str:
        return f"{self._live.url}/v1"

    def __enter__(self) -> ScriptedOpenAIServer:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions", response_model=None)
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            script = self.script
            if script.status != 200:
                return JSONResponse({"error": {"message": "scripted failure"}}, status_code=script.status)
            return StreamingResponse(self._chunks(script, body), media_type="text/event-stream")

        return app

    async def _chunks(self, script: Script, body: dict[str, Any]) -> AsyncIterator[bytes]:
        try:
            await asyncio.sleep(script.delay_first_s)
            words = script.words[: int(body.get("max_tokens") or len(script.words))]
            for i, word in enumerate(words):
                if script.break_after is not None and i >= script.break_after:
                    raise RuntimeError("scripted connection drop")
                chunk = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}]}
                chunk["choices"][0]["delta"] = {"role": "assistant", "content": word}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(script.delay_each_s)
            yield b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            yield b"data: [DONE]\n\n"
            self.stream_finished.set()
        except (asyncio.CancelledError, GeneratorExit):
            self.client_went_away.set()
            raise
