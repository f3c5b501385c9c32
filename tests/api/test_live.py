"""Against a real uvicorn on 127.0.0.1: SSE over HTTP with httpx, disconnects, and the real `openai` client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from api.app import create_app
from tests.api.helpers import API_KEY, CountingGenerator, Harness, LiveServer, parse_sse, seed_text
from tests.conftest import HEADLINE, SEED_SOURCE


@pytest.fixture
def live(harness: Harness) -> Iterator[LiveServer]:
    engine = harness.engine()
    with LiveServer(create_app(engine.settings, engine)) as server:
        yield server


def test_sse_over_real_http(live: LiveServer) -> None:
    seen: list[tuple[str, float]] = []
    body = ""
    with (
        httpx.Client(base_url=live.url, timeout=30) as http,
        http.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
        assert r.headers.get("content-length") is None  # streamed, not buffered
        for chunk in r.iter_text():
            body += chunk
            seen += [(line[7:], time.monotonic()) for line in chunk.splitlines() if line.startswith("event: ")]
    events = parse_sse(body)
    names = [e.event for e in events]
    assert names[0] == "passages" and "token" in names and names[-2:] == ["answer", "done"]
    assert [name for name, _ in seen] == names
    answer = events[-2].data
    assert not answer["refused"]
    text = seed_text().strip()
    assert all(text[c["start"] : c["end"]] == c["quote"] for c in answer["citations"])


def test_client_disconnect_stops_generation(harness: Harness) -> None:
    gen = CountingGenerator(delay_s=0.01)
    engine = harness.engine(generator=gen, max_new_tokens=2000)
    app = create_app(engine.settings, engine)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        with http.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
            for line in r.iter_lines():
                if line.startswith("event: passages"):
                    assert gen.running.wait(10)  # the model is generating; now leave mid-stream
                    break
        assert gen.finished.wait(10), "generation went on after the client disconnected"
        assert gen.cancelled and gen.produced < 2000
        pool = app.state.ragqa.pool
        deadline = time.monotonic() + 5
        while pool.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.in_flight == 0
        # The server is fine afterwards.
        assert http.get("/healthz").status_code == 200


def test_openai_client_non_streaming(live: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=API_KEY, max_retries=0)
    completion = client.chat.completions.create(
        model="ragqa-test",
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "Tell me about Korea."},
            {"role": "assistant", "content": "South Korea is re-evaluating its stance."},
            {"role": "user", "content": HEADLINE},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "ragqa-test"
    assert completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content
    assert content and "Korea" in content
    extra = completion.model_extra or {}
    ragqa = extra["ragqa"]
    assert ragqa["refused"] is False
    assert ragqa["citations"] and ragqa["citations"][0]["n"] == 1
    assert ragqa["citations"][0]["source"] == SEED_SOURCE
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_openai_client_streaming(live: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=API_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="ragqa-test", messages=[{"role": "user", "content": HEADLINE}], stream=True
    )
    chunks = list(stream)
    assert chunks and all(c.object == "chat.completion.chunk" and c.model == "ragqa-test" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Korea" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    ragqa = (last.model_extra or {})["ragqa"]
    assert ragqa["refused"] is False and ragqa["citations"]
    assert all("ragqa" not in (c.model_extra or {}) for c in chunks[:-1])
    plain = client.chat.completions.create(model="x", messages=[{"role": "user", "content": HEADLINE}])
    assert plain.choices[0].message.content == text


def test_openai_client_refusal_and_errors(live: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=API_KEY, max_retries=0)
    refused = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "What is the recipe for Peruvian ceviche?"}]
    )
    assert refused.choices[0].message.content == "The articles don't say."
    assert (refused.model_extra or {})["ragqa"]["refused"] is True
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "What is the recipe for Peruvian ceviche?"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The articles don't say."
    assert (chunks[-1].model_extra or {})["ragqa"]["refused"] is True
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "assistant", "content": "hi"}])
    assert "user message" in str(info.value)
