"""Helpers for the HTTP tests (also used by tests/e2e): scripted generators, a live uvicorn server, SSE parsing."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from rag.documents import load_text
from rag.engine import Engine
from rag.errors import GenerationCancelled
from rag.ingest import IngestResult, ingest_document
from rag.models.generator import ChatMessage
from rag.settings import Settings
from tests.conftest import SEED_SOURCE, SEEDS_DIR, build_fake_engine, make_settings

API_KEY = "test-key-3f9a1c7e5b2d"  # a secret for the tests: must never appear in a response or a log line
AUTH = {"Authorization": f"Bearer {API_KEY}"}

_EVIDENCE_LINE = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


def evidence_lines(messages: Sequence[ChatMessage]) -> list[str]:
    return [m.group(2) for m in _EVIDENCE_LINE.finditer(messages[-1].content)]


def quote_first_evidence(messages: Sequence[ChatMessage]) -> str:
    """Answer by copying the best evidence sentence (passes verification, like a well-behaved model)."""
    lines = evidence_lines(messages)
    return lines[0] if lines else "NOT IN EVIDENCE"


def quote_evidence_containing(needle: str) -> Callable[[Sequence[ChatMessage]], str]:
    def respond(messages: Sequence[ChatMessage]) -> str:
        lines = evidence_lines(messages)
        chosen = [line for line in lines if needle in line] or lines[:1]
        return " ".join(chosen) if chosen else "NOT IN EVIDENCE"

    return respond


def ingest_text(engine: Engine, source: str, text: str, title: str | None = None) -> IngestResult:
    with engine.store.writer():
        return ingest_document(engine, load_text(text, source=source, title=title))


def ingest_seed(engine: Engine) -> IngestResult:
    return ingest_text(engine, SEED_SOURCE, seed_text())


def seed_text() -> str:
    return (Path(SEEDS_DIR) / SEED_SOURCE).read_text(encoding="utf-8")


class BlockingGenerator:
    """Blocks in ``stream`` until ``release`` is set (or the stream is cancelled); then answers like a model."""

    model_id = "blocking-generator"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.started.release()
        while not self.release.wait(0.02):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("cancelled")
        yield quote_first_evidence(messages)


class CountingGenerator:
    """Yields ``max_new_tokens`` words slowly, checking ``cancel`` before each; records what happened."""

    model_id = "counting-generator"

    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.produced = 0
        self.cancelled = False
        self.running = threading.Event()
        self.finished = threading.Event()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        try:
            for i in range(max_new_tokens):
                if cancel is not None and cancel.is_set():
                    self.cancelled = True
                    raise GenerationCancelled("cancelled")
                time.sleep(self.delay_s)
                self.produced += 1
                self.running.set()
                yield f" word{i}"
        finally:
            self.finished.set()


class FailingGenerator:
    model_id = "failing-generator"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        raise self.exc
        yield ""  # pragma: no cover


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: Any


def parse_sse(text: str) -> list[SseEvent]:
    """The events of an SSE body (comments skipped; data JSON-decoded)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append(SseEvent(name, json.loads("\n".join(data))))
    return events


class LiveServer:
    """A real uvicorn serving ``app`` on 127.0.0.1 (a free port) in a thread; ``with LiveServer(app) as s: s.url``."""

    def __init__(self, app: FastAPI, *, startup_timeout_s: float = 300.0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._startup_timeout_s = startup_timeout_s

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in time")
            time.sleep(0.02)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


# Explicit values for every HTTP setting, so the environment of the machine running the tests cannot change them.
HTTP_DEFAULTS: dict[str, Any] = {
    "api_keys": [API_KEY],
    "read_requires_key": False,
    "cors_origins": [],
    "widget_origins": ["*"],
    "trusted_proxies": [],
    "max_question_chars": 1000,
    "max_body_bytes": 1_000_000,
    "max_upload_bytes": 10_000_000,
    "max_k": 50,
    "max_history": 20,
    "generation_workers": 1,
    "generation_queue": 8,
    "rate_limit_per_minute": 0,
}


def api_settings(data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(data_dir, **{**HTTP_DEFAULTS, **overrides})


class Harness:
    """Builds apps over fake engines; everything is closed at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._stack = ExitStack()
        self._n = 0

    def engine(self, *, generator: Any = None, seed: bool = True, **overrides: Any) -> Engine:
        self._n += 1
        settings = api_settings(self._tmp / f"data{self._n}", **overrides)
        engine = build_fake_engine(settings, respond=quote_first_evidence)
        if generator is not None:
            engine.generator = generator
        self._stack.callback(engine.close)
        if seed:
            ingest_seed(engine)
        return engine

    def client(self, engine: Engine | None = None, **kwargs: Any) -> TestClient:
        engine = engine or self.engine(**kwargs)
        return self._stack.enter_context(TestClient(create_app(engine.settings, engine)))

    def close(self) -> None:
        self._stack.close()
