"""Limits (each 4xx names its setting), the bounded generation queue (503 + Retry-After), the rate limit (429)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.ratelimit import RateLimiter
from tests.api.helpers import AUTH, BlockingGenerator, Harness, parse_sse
from tests.conftest import HEADLINE


def limit_error(r: Any, limit: str, status: int = 422) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == "limit_exceeded"
    assert limit in error["message"]
    return str(error["message"])


def test_question_too_long(harness: Harness) -> None:
    client = harness.client(max_question_chars=40)
    long_q = "Why " + "x" * 60 + "?"
    limit_error(client.post("/v1/ask", json={"question": long_q}), "max_question_chars=40")
    limit_error(client.post("/v1/ask/stream", json={"question": long_q}), "max_question_chars")
    limit_error(
        client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": long_q}]}),
        "max_question_chars",
    )
    limit_error(client.get("/v1/search", params={"q": long_q}), "max_question_chars")


def test_k_too_big(harness: Harness) -> None:
    client = harness.client(max_k=5)
    assert client.get("/v1/search", params={"q": "Putin", "k": 5}).status_code == 200
    message = limit_error(client.get("/v1/search", params={"q": "Putin", "k": 6}), "max_k=5")
    assert "k=6" in message
    r = client.get("/v1/search", params={"q": "Putin", "k": 0})
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error"


def test_history_too_long(harness: Harness) -> None:
    client = harness.client(max_history=2)
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 2
    limit_error(client.post("/v1/ask", json={"question": HEADLINE, "history": turns}), "max_history=2")
    messages = [*turns, {"role": "user", "content": HEADLINE}]
    limit_error(client.post("/v1/chat/completions", json={"model": "m", "messages": messages}), "max_history")


def test_body_too_large(harness: Harness) -> None:
    client = harness.client(max_body_bytes=2000)
    big = {"question": HEADLINE, "history": [{"role": "user", "content": "y" * 3000}]}
    limit_error(client.post("/v1/ask", json=big), "max_body_bytes=2000", 413)

    def chunks() -> Iterator[bytes]:
        yield b'{"question": "' + b"z" * 1500
        yield b"z" * 1500 + b'"}'

    # No Content-Length (chunked): the bytes actually received are counted.
    r = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    limit_error(r, "max_body_bytes", 413)


def test_upload_too_large_leaves_the_index_alone(harness: Harness) -> None:
    engine = harness.engine(max_upload_bytes=1000)
    client = harness.client(engine)
    before = engine.store.stats()
    r = client.post("/v1/documents", headers=AUTH, json={"source": "big.txt", "text": "Big words here. " * 100})
    limit_error(r, "max_upload_bytes=1000", 413)
    r = client.post("/v1/documents", headers=AUTH, files={"file": ("big.txt", b"Big words here. " * 100)})
    limit_error(r, "max_upload_bytes=1000", 413)
    r = client.post("/v1/documents", headers=AUTH, files={"file": ("big.txt", b"Big words here. " * 10_000)})
    limit_error(r, "max_upload_bytes=1000", 413)
    assert engine.store.stats() == before
    ok = client.post("/v1/documents", headers=AUTH, files={"file": ("small.txt", b"Small words here. " * 10)})
    assert ok.status_code == 201


def test_upload_under_the_upload_limit_but_over_the_document_limit(harness: Harness) -> None:
    """``max_upload_bytes`` (413, while the body arrives) is checked first; ``max_document_bytes`` (400, before
    parsing) applies to every document file, uploads included."""
    engine = harness.engine(max_upload_bytes=10_000, max_document_bytes=1000)
    client = harness.client(engine)
    before = engine.store.stats()
    r = client.post("/v1/documents", headers=AUTH, files={"file": ("big.txt", b"Big words here. " * 100)})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].endswith("file too large (1600 bytes > 1000 bytes)")
    assert engine.store.stats() == before
    exact = b"Small words here. " * 55 + b"1234567890"
    assert len(exact) == 1000
    ok = client.post("/v1/documents", headers=AUTH, files={"file": ("exact.txt", exact)})
    assert ok.status_code == 201, ok.text


def _start_stream(client: TestClient, results: list[tuple[int, str]], question: str = HEADLINE) -> threading.Thread:
    def run() -> None:
        with client.stream("POST", "/v1/ask/stream", json={"question": question}) as r:
            results.append((r.status_code, r.read().decode()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_full_queue_gets_503_with_retry_after(harness: Harness) -> None:
    gen = BlockingGenerator()
    client = harness.client(generator=gen, generation_workers=1, generation_queue=1)
    pool = client.app.state.ragqa.pool  # type: ignore[attr-defined]
    results: list[tuple[int, str]] = []
    first = _start_stream(client, results)
    assert gen.started.acquire(timeout=10)  # the worker is busy
    second = _start_stream(client, results)
    deadline = time.monotonic() + 10
    while pool.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.in_flight == 2 and pool.queue_depth == 1

    started = time.monotonic()
    for r in (
        client.post("/v1/ask", json={"question": HEADLINE}),
        client.post("/v1/ask/stream", json={"question": HEADLINE}),
        client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": HEADLINE}]}),
    ):
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "busy"
        assert "generation_queue" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1
    assert time.monotonic() - started < 5  # refused at once, never a hang
    assert "ragqa_generation_queue_depth 1" in client.get("/metrics").text

    gen.release.set()
    first.join(10)
    second.join(10)
    assert [status for status, _ in results] == [200, 200]
    for _, body in results:
        assert [e.event for e in parse_sse(body)][-2:] == ["answer", "done"]
    assert pool.in_flight == 0
    assert client.post("/v1/ask", json={"question": HEADLINE}).status_code == 200


def test_rate_limit_per_client(harness: Harness) -> None:
    client = harness.client(rate_limit_per_minute=3)
    for _ in range(3):
        assert client.get("/v1/search", params={"q": "Putin"}).status_code == 200
    r = client.get("/v1/search", params={"q": "Putin"})
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limited"
    assert "rate_limit_per_minute" in r.json()["error"]["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert client.get("/healthz").status_code == 200  # health and metrics are not limited
    assert "ragqa_rate_limited_total 1" in client.get("/metrics").text


@pytest.mark.parametrize("per_minute", [60, 600])
def test_token_bucket_refills(per_minute: int) -> None:
    limiter = RateLimiter(per_minute)
    now = 1000.0
    for _ in range(per_minute):
        assert limiter.acquire("1.2.3.4", now) == 0
    wait = limiter.acquire("1.2.3.4", now)
    assert wait >= 1
    assert limiter.acquire("5.6.7.8", now) == 0  # other clients have their own bucket
    assert limiter.acquire("1.2.3.4", now + 60.0 / per_minute + 0.001) == 0
    assert RateLimiter(0).acquire("x") == 0  # 0 disables the limit
