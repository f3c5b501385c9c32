"""A uvicorn factory for live-server subprocesses: the real app over the fake engine.

    RAGQA_DATA_DIR=D RAGQA_API_KEYS=k uvicorn --factory tests.reliability.fake_app:create

Settings come from ``RAGQA_*`` as for ``ragqa serve``. ``RELIABILITY_TOKEN_DELAY_MS`` (default 0) makes the scripted
generator sleep before each word, to mimic model work. The seed article is ingested on start if the index is empty.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from fastapi import FastAPI

from api.app import configure_logging, create_app
from index import IndexStore
from rag.documents import load_path
from rag.engine import Engine
from rag.ingest import ingest_document
from rag.models.generator import ChatMessage
from rag.settings import get_settings
from tests.fakes import HashEmbedder, OverlapJudge, OverlapReranker, ScriptedGenerator

SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"


def quote_first_evidence(messages: Sequence[ChatMessage]) -> str:
    for line in messages[-1].content.splitlines():
        if line.startswith("[1] "):
            return line[4:]
    return "NOT IN EVIDENCE"


class SlowScriptedGenerator(ScriptedGenerator):
    def __init__(self, delay_s: float) -> None:
        super().__init__(quote_first_evidence)
        self.delay_s = delay_s

    def stream(self, messages: Sequence[ChatMessage], **kwargs) -> Iterator[str]:  # type: ignore[no-untyped-def,override]
        for piece in super().stream(messages, **kwargs):
            time.sleep(self.delay_s)
            yield piece


def create() -> FastAPI:
    configure_logging(logging.DEBUG if os.environ.get("RELIABILITY_DEBUG_LOGS") == "1" else logging.INFO)
    settings = get_settings()
    embedder = HashEmbedder(64)
    store = IndexStore.open(
        settings.data_dir, embedder_id=embedder.model_id, embedder_checksum=embedder.checksum, dimension=64
    )
    delay_s = float(os.environ.get("RELIABILITY_TOKEN_DELAY_MS", "0")) / 1000.0
    engine = Engine(
        settings=settings,
        store=store,
        embedder=embedder,
        reranker=OverlapReranker(),
        generator=SlowScriptedGenerator(delay_s),
        judge=OverlapJudge(),
    )
    if store.stats().documents == 0:
        with store.writer():
            for path in sorted(SEEDS_DIR.glob("*.txt")):
                ingest_document(engine, load_path(path, path.name))
    return create_app(settings, engine)
