"""The HTTP API over the real models and the seed article (slow: loads the embedder, reranker, generator, judge)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.engine import Engine
from rag.settings import Settings
from tests.api.helpers import parse_sse, seed_text
from tests.conftest import HEADLINE, SEED_SOURCE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_client(real_models_settings: Settings, seed_engine: Engine) -> Iterator[TestClient]:
    seed_engine.ensure_generator()
    seed_engine.ensure_judge()
    with TestClient(create_app(real_models_settings, seed_engine)) as client:
        yield client


def test_real_ready(real_client: TestClient) -> None:
    r = real_client.get("/readyz")
    assert r.status_code == 200, r.text
    assert set(r.json()["models"]) == {"embedder", "reranker", "generator", "judge"}


def test_real_answer_is_grounded_in_the_seed(real_client: TestClient) -> None:
    r = real_client.post("/v1/ask", json={"question": HEADLINE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refused"] is False, body["refusal_reason"]
    assert body["citations"]
    text = seed_text().strip()
    for c in body["citations"]:
        assert c["source"] == SEED_SOURCE
        assert text[c["start"] : c["end"]] == c["quote"]
    assert {"retrieval_s", "total_s"} <= set(body["timings"])
    assert set(body["models"]) >= {"embedder", "reranker"}


def test_real_stream_and_refusal(real_client: TestClient) -> None:
    with real_client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        events = parse_sse(r.read().decode())
    names = [e.event for e in events]
    assert names[0] == "passages" and names[-2:] == ["answer", "done"] and "token" in names
    assert set(names[1:-2]) == {"token"}
    r = real_client.post("/v1/ask", json={"question": "What is the recipe for Peruvian ceviche?"})
    assert r.status_code == 200
    assert r.json()["refused"] is True and r.json()["answer"] == "The articles don't say."
