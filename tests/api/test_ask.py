"""POST /v1/ask and /v1/ask/stream over the fake engine: shapes, SSE order, refusals, error frames."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient

from rag.errors import ModelError
from tests.api.helpers import FailingGenerator, Harness, parse_sse, seed_text
from tests.conftest import HEADLINE, SEED_SOURCE

ANSWER_KEYS = {
    "id",
    "question",
    "answer",
    "refused",
    "refusal_reason",
    "sentences",
    "citations",
    "related",
    "passages",
    "timings",
    "models",
}
UNRELATED = "What is the recipe for Peruvian ceviche?"


def test_ask_returns_a_cited_answer(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": HEADLINE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == ANSWER_KEYS
    assert body["question"] == HEADLINE
    assert body["refused"] is False and body["refusal_reason"] is None
    assert body["answer"] == " ".join(s["text"] for s in body["sentences"])
    text = seed_text()
    assert body["sentences"] and body["citations"]
    for sentence in body["sentences"]:
        assert sentence["citations"]
        for c in sentence["citations"]:
            assert set(c) == {"source", "title", "quote", "start", "end", "page"}
            assert c["source"] == SEED_SOURCE
            assert text.strip()[c["start"] : c["end"]] == c["quote"]
    assert [c["n"] for c in body["citations"]] == list(range(1, len(body["citations"]) + 1))
    assert body["passages"] and set(body["passages"][0]) == {
        "source",
        "title",
        "text",
        "start",
        "end",
        "score",
        "page",
        "meta",
    }
    assert "total_s" in body["timings"]
    assert body["models"]["embedder"] == "hash-embedder"
    assert r.headers["x-request-id"]


def test_quotes_match_the_stored_document(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": HEADLINE}).json()
    doc = client.get(f"/v1/documents/{SEED_SOURCE}").json()
    assert body["citations"], body
    for c in body["citations"]:
        assert doc["text"][c["start"] : c["end"]] == c["quote"]


def test_unrelated_question_is_refused(client: TestClient) -> None:
    body = client.post("/v1/ask", json={"question": UNRELATED}).json()
    assert body["refused"] is True
    assert body["answer"] == "The articles don't say."
    assert body["refusal_reason"]
    assert body["sentences"] == [] and body["citations"] == []
    # The closest passage is offered as related reading (exact quotes of the seed), never as a citation.
    assert body["related"], body
    seed = client.get(f"/v1/documents/{SEED_SOURCE}").json()["text"]
    for related in body["related"]:
        assert related["source"] == SEED_SOURCE
        assert seed[related["start"] : related["end"]] == related["quote"]


def test_filters_and_history_are_accepted(client: TestClient) -> None:
    history = [{"role": "user", "content": HEADLINE}, {"role": "assistant", "content": "Because of Putin's visit."}]
    r = client.post("/v1/ask", json={"question": "Why did it happen?", "history": history})
    assert r.status_code == 200, r.text
    r = client.post("/v1/ask", json={"question": HEADLINE, "filters": {"source": "other/*"}})
    assert r.status_code == 200
    assert r.json()["refused"] is True and r.json()["passages"] == []
    r = client.post("/v1/ask", json={"question": HEADLINE, "filters": {"source": "seoul*", "date_from": "2020-01-01"}})
    assert r.status_code == 200


def test_bad_bodies_get_the_error_shape(client: TestClient) -> None:
    for body in ({}, {"question": 3}, {"question": "x", "history": [{"role": "system", "content": "x"}]}):
        r = client.post("/v1/ask", json=body)
        assert r.status_code == 422
        assert r.json()["error"]["type"] == "validation_error"
    r = client.post("/v1/ask", json={"question": HEADLINE, "filters": {"date_from": "yesterday"}})
    assert r.status_code == 422 and "date_from" in r.json()["error"]["message"]
    r = client.post("/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and set(r.json()) == {"error"}
    r = client.post("/v1/ask", json={"question": "   "})
    assert r.status_code == 422 and r.json()["error"]["message"] == "the question is empty"


def test_framework_errors_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json() == {
        "error": {"type": "not_found", "message": "no route GET /v1/nothing-here"}
    }
    r = client.get("/v1/ask")
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"


def test_stream_event_order(client: TestClient) -> None:
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        events = parse_sse(r.read().decode())
    names = [e.event for e in events]
    assert names[0] == "passages" and names[-2:] == ["answer", "done"]
    assert set(names[1:-2]) == {"token"}, names
    passages = events[0].data
    assert isinstance(passages, list) and passages[0]["source"] == SEED_SOURCE
    answer = events[-2].data
    assert set(answer) == ANSWER_KEYS and answer["refused"] is False
    assert "".join(e.data["text"] for e in events if e.event == "token") == answer["answer"]
    plain = client.post("/v1/ask", json={"question": HEADLINE}).json()
    assert {k: v for k, v in plain.items() if k not in ("timings", "id")} == {
        k: v for k, v in answer.items() if k not in ("timings", "id")
    }


def test_stream_sends_the_answer_even_when_refused(client: TestClient) -> None:
    with client.stream("POST", "/v1/ask/stream", json={"question": UNRELATED}) as r:
        events = parse_sse(r.read().decode())
    assert [e.event for e in events] == ["passages", "answer", "done"]
    assert events[1].data["refused"] is True and events[1].data["answer"] == "The articles don't say."


def test_stream_failure_sends_an_error_frame_without_details(harness: Harness) -> None:
    client = harness.client(generator=FailingGenerator(RuntimeError("boom at /secret/path")))
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        assert r.status_code == 200
        events = parse_sse(r.read().decode())
    names = [e.event for e in events]
    assert names[0] == "passages" and names[-1] == "error", names
    assert set(names[1:-1]) <= {"token"}  # no answer, no done: the error frame ends the stream
    assert events[-1].data == {"error": {"type": "internal_error", "message": "internal server error"}}
    assert all("boom" not in json.dumps(e.data) for e in events)
    # The pool slot is free again.
    assert client.app.state.ragqa.pool.in_flight == 0  # type: ignore[attr-defined]


def test_stream_model_error_is_named(harness: Harness) -> None:
    client = harness.client(generator=FailingGenerator(ModelError("generator exploded")))
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        events = parse_sse(r.read().decode())
    assert events[-1].event == "error"
    assert events[-1].data["error"] == {"type": "model_error", "message": "generator exploded"}
    r = client.post("/v1/ask", json={"question": HEADLINE})
    assert r.status_code == 503 and r.json()["error"]["type"] == "model_error"


def test_unexpected_error_in_ask_is_a_500_of_the_same_shape(harness: Harness) -> None:
    client = harness.client(generator=FailingGenerator(RuntimeError("boom at /secret/path")))
    r = client.post("/v1/ask", json={"question": HEADLINE})
    assert r.status_code == 500
    assert r.json() == {"error": {"type": "internal_error", "message": "internal server error"}}
    assert r.headers["x-request-id"]


def test_disconnect_in_test_client_stops_generation(harness: Harness) -> None:
    from tests.api.helpers import CountingGenerator

    gen = CountingGenerator(delay_s=0.01)
    client = harness.client(generator=gen, max_new_tokens=1000)
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        for line in r.iter_lines():
            if line.startswith("event: passages"):
                assert gen.running.wait(10)  # the model is generating; now the client goes away
                break
    assert gen.finished.wait(10), "generation did not stop after the client went away"
    assert gen.cancelled and gen.produced < 1000
    pool = client.app.state.ragqa.pool  # type: ignore[attr-defined]
    for _ in range(100):
        if pool.in_flight == 0:
            break
        threading.Event().wait(0.02)
    assert pool.in_flight == 0
