"""Metadata over HTTP: the document body and multipart ``meta`` field, metadata on documents and passages, and
``filters.meta`` (equality, list, ``{"in": [...]}``) on search, ask and chat."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.helpers import AUTH, Harness
from tests.rag.test_metadata import DOCS


def test_api_metadata_round_trip_and_filters(harness: Harness) -> None:
    engine = harness.engine(seed=False)
    client: TestClient = harness.client(engine)
    for source, (text, meta) in DOCS.items():
        body = {"source": source, "text": text, "format": "md" if source.endswith(".md") else "txt", "meta": meta}
        assert client.post("/v1/documents", json=body, headers=AUTH).status_code == 201
    files = {"file": ("up.txt", b"Upload memo\nThe harbour budget for uploads.", "text/plain")}
    r = client.post("/v1/documents", files=files, data={"meta": '{"team": "uploads"}'}, headers=AUTH)
    assert r.status_code == 201, r.text
    bad = client.post("/v1/documents", files=files, data={"meta": "[1]"}, headers=AUTH)
    assert bad.status_code == 422
    listing = {d["source"]: d for d in client.get("/v1/documents").json()["documents"]}
    assert listing["risk.md"]["meta"]["team"] == "risk" and listing["up.txt"]["meta"]["team"] == "uploads"
    assert client.get("/v1/documents/ops.txt").json()["meta"]["team"] == "ops"

    r = client.get(
        "/v1/search", params=[("q", "harbour budget"), ("k", 10), ("where", "team=risk"), ("where", "team=ops")]
    )
    assert r.status_code == 200
    assert {p["source"] for p in r.json()["passages"]} == {"risk.md", "ops.txt"}
    assert all(p["meta"]["team"] in ("risk", "ops") for p in r.json()["passages"])

    for meta in ({"team": "legal"}, {"team": ["legal"]}, {"team": {"in": ["legal"]}}):
        r = client.post(
            "/v1/ask", json={"question": "Does the harbour budget need a review?", "filters": {"meta": meta}}
        )
        assert r.status_code == 200, r.text
        assert {p["source"] for p in r.json()["passages"]} == {"legal.txt"}
        assert {c["source"] for c in r.json()["citations"]} <= {"legal.txt"}
    chat = {"messages": [{"role": "user", "content": "Harbour budget?"}], "filters": {"meta": {"team": "uploads"}}}
    r = client.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200, r.text
    assert {c["source"] for c in r.json()["ragqa"]["citations"]} <= {"up.txt"}
    r = client.post("/v1/ask", json={"question": "Harbour?", "filters": {"meta": {"bad key": "x"}}})
    assert r.status_code == 400 and "bad metadata key" in r.json()["error"]["message"]
    r = client.post("/v1/documents", json={"source": "x.txt", "text": "x", "meta": {"bad key": "x"}}, headers=AUTH)
    assert r.status_code == 400
