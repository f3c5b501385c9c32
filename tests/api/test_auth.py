"""Write routes need a bearer key; read routes only with read_requires_key; keys never leak."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import API_KEY, AUTH, Harness
from tests.conftest import HEADLINE, SEED_SOURCE

DOC = {"source": "notes/a.txt", "text": "Seoul weighs arms shipments to Kyiv after the summit."}


def test_writes_are_refused_when_no_key_is_configured(harness: Harness) -> None:
    client = harness.client(api_keys=[])
    for r in (
        client.post("/v1/documents", json=DOC, headers=AUTH),
        client.post("/v1/documents", files={"file": ("a.txt", b"Some text here.")}),
        client.delete(f"/v1/documents/{SEED_SOURCE}", headers=AUTH),
    ):
        assert r.status_code == 403
        assert r.json()["error"]["type"] == "forbidden"
        assert "RAGQA_API_KEYS=key1,key2" in r.json()["error"]["message"]
    assert client.get(f"/v1/documents/{SEED_SOURCE}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {API_KEY}"}, {"Authorization": "Bearer "}],
)
def test_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/v1/documents", json=DOC, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.delete(f"/v1/documents/{SEED_SOURCE}", headers=headers).status_code == 401


def test_right_key_is_201(client: TestClient) -> None:
    r = client.post("/v1/documents", json=DOC, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json() == {"source": "notes/a.txt", "status": "added", "chunks": 1}


def test_any_configured_key_works(harness: Harness) -> None:
    client = harness.client(api_keys=["first-key", API_KEY])
    assert client.post("/v1/documents", json=DOC, headers={"Authorization": "Bearer first-key"}).status_code == 201
    assert client.delete("/v1/documents/notes/a.txt", headers=AUTH).status_code == 200


def test_reads_open_by_default_and_closed_with_read_requires_key(harness: Harness) -> None:
    open_client = harness.client()
    assert open_client.get("/v1/search", params={"q": "Putin"}).status_code == 200
    client = harness.client(read_requires_key=True)
    for method, url, body in (
        ("GET", "/v1/search?q=Putin", None),
        ("GET", "/v1/documents", None),
        ("GET", f"/v1/documents/{SEED_SOURCE}", None),
        ("POST", "/v1/ask", {"question": HEADLINE}),
        ("POST", "/v1/ask/stream", {"question": HEADLINE}),
        ("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": HEADLINE}]}),
    ):
        assert client.request(method, url, json=body).status_code == 401, url
        assert client.request(method, url, json=body, headers=AUTH).status_code == 200, url
    for url in ("/healthz", "/readyz", "/metrics", "/", "/widget.js"):
        assert client.get(url).status_code == 200, url
    closed = harness.client(read_requires_key=True, api_keys=[])
    r = closed.get("/v1/search", params={"q": "Putin"})
    assert r.status_code == 403 and "RAGQA_API_KEYS" in r.json()["error"]["message"]


def test_keys_never_appear_in_responses_or_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    for headers in (AUTH, {"Authorization": f"Bearer {API_KEY}x"}, {"Authorization": API_KEY}):
        for r in (
            client.post("/v1/documents", json=DOC, headers=headers),
            client.post("/v1/documents", json={"source": "../x", "text": "t"}, headers=headers),
            client.post("/v1/documents", json={"nope": 1}, headers=headers),
            client.delete("/v1/documents/missing.txt", headers=headers),
            client.post("/v1/ask", json={"question": HEADLINE}, headers=headers),
            client.get("/v1/search", params={"q": "Putin"}, headers=headers),
        ):
            bodies.append(r.text + str(r.headers))
    bodies.append(client.get("/metrics").text)
    assert caplog.records, "expected access-log lines"
    assert any("request_id=" in rec.getMessage() for rec in caplog.records)
    for text in bodies:
        assert API_KEY not in text
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
