"""The remote generator against a real llama.cpp OpenAI-compatible server (``llama-cpp-python[server]``) serving the
pinned Qwen GGUF from the model cache: streaming, greedy determinism, cancel, and whole answers through the engine
and the HTTP API with the real embedder and reranker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.answer import answer_question
from rag.engine import Engine
from rag.errors import GenerationCancelled
from rag.models.generator import ChatMessage
from rag.models.install import ensure_gguf
from rag.models.remote import OpenAICompatibleGenerator
from rag.settings import Settings
from tests.api.helpers import HTTP_DEFAULTS, parse_sse
from tests.conftest import HEADLINE, make_settings

pytestmark = pytest.mark.slow

GENERATOR = "qwen2.5-coder-0.5b-instruct"
ALIAS = "qwen-served"
STARTUP_TIMEOUT_S = 180.0
MESSAGES = [ChatMessage("user", "Name three primary colours, in one short sentence.")]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on 127.0.0.1 serving the pinned GGUF; yields its OpenAI base URL."""
    gguf = ensure_gguf(Settings(_env_file=None).models_dir, GENERATOR)  # type: ignore[call-arg]
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--seed", "0",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@pytest.fixture
def remote(llama_server: str) -> Iterator[OpenAICompatibleGenerator]:
    gen = OpenAICompatibleGenerator(llama_server, ALIAS, timeout_s=120)
    yield gen
    gen.close()


def test_streams_a_greedy_completion_from_llama_cpp(remote: OpenAICompatibleGenerator) -> None:
    first = list(remote.stream(MESSAGES, max_new_tokens=24))
    assert len(first) > 1, "expected a stream of several pieces"
    text = "".join(first)
    assert text.strip()
    assert remote.count_tokens(text) <= 24 * 4  # an estimate, but bounded by what was asked for
    assert "".join(remote.stream(MESSAGES, max_new_tokens=24)) == text  # temperature 0: the same answer again


def test_cancel_stops_the_stream_and_the_server_keeps_serving(remote: OpenAICompatibleGenerator) -> None:
    cancel = threading.Event()
    pieces: list[str] = []
    with pytest.raises(GenerationCancelled):
        for piece in remote.stream(MESSAGES, max_new_tokens=200, cancel=cancel):
            pieces.append(piece)
            cancel.set()
    assert len(pieces) == 1
    assert "".join(remote.stream(MESSAGES, max_new_tokens=8)).strip()


def _engine_with(seed_engine: Engine, generator: OpenAICompatibleGenerator, settings: Settings) -> Engine:
    return Engine(
        settings=settings,
        store=seed_engine.store,
        embedder=seed_engine.embedder,
        reranker=seed_engine.reranker,
        generator=generator,
        judge=seed_engine.ensure_judge(),
    )


def test_answer_with_the_served_model(seed_engine: Engine, remote: OpenAICompatibleGenerator) -> None:
    engine = _engine_with(seed_engine, remote, seed_engine.settings)
    answer = answer_question(engine, HEADLINE)
    assert not answer.refused, answer.refusal_reason
    assert answer.models["generator"] == ALIAS
    assert answer.sentences[0].origin == "extractive"
    for sentence in answer.sentences:  # generated or quoted, every shown sentence cites exact spans
        assert sentence.citations
        for c in sentence.citations:
            assert seed_engine.store.document_text(c.source)[c.start : c.end] == c.text


def test_http_stream_with_the_served_model(
    seed_engine: Engine, remote: OpenAICompatibleGenerator, tmp_path: Path
) -> None:
    settings = make_settings(seed_engine.settings.data_dir, **HTTP_DEFAULTS)
    engine = _engine_with(seed_engine, remote, settings)
    with TestClient(create_app(settings, engine)) as client:
        r = client.post("/v1/ask/stream", json={"question": HEADLINE})
        assert r.status_code == 200
        names = [e.event for e in parse_sse(r.text)]
        assert names[0] == "passages"
        assert "token" in names
        assert names[-2:] == ["answer", "done"]


def test_engine_load_uses_the_url_and_loads_no_local_generator(llama_server: str, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", generator_url=llama_server, generator_model=ALIAS, generator="/no/such/local/model"
    )
    engine = Engine.load(settings, reranker=False, generator=True)
    try:
        assert isinstance(engine.generator, OpenAICompatibleGenerator)
        assert "".join(engine.generator.stream(MESSAGES, max_new_tokens=8)).strip()
    finally:
        engine.close()
