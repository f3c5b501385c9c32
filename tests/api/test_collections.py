"""Collections over HTTP: every route that reads or writes takes a ``collection``; scoped API keys
(``key:c1+c2``, ``key:*``, ``read:`` items) are enforced on every route for every scope combination; and no
passage of one collection reaches a search, a document read or an answer in another."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import KeyScope, parse_key
from tests.api.helpers import API_KEY, Harness, parse_sse
from tests.conftest import SEED_SOURCE

KEYS = {
    "plain": "k-plain-0001",
    "star": "k-star-0002",
    "a": "k-a-0003",
    "ab": "k-ab-0004",
    "read_a": "k-ro-0005",
    "b_read_all": "k-b-0006",
}
ENTRIES = [
    KEYS["plain"],
    f"{KEYS['star']}:*",
    f"{KEYS['a']}:a",
    f"{KEYS['ab']}:a+b",
    f"{KEYS['read_a']}:read:a",
    f"{KEYS['b_read_all']}:b+read:*",
]
# (may read, may write) per key and collection.
ALLOWED: dict[str, dict[str, tuple[bool, bool]]] = {
    "plain": {"a": (True, True), "b": (True, True), "default": (True, True)},
    "star": {"a": (True, True), "b": (True, True), "default": (True, True)},
    "a": {"a": (True, True), "b": (False, False), "default": (False, False)},
    "ab": {"a": (True, True), "b": (True, True), "default": (False, False)},
    "read_a": {"a": (True, False), "b": (False, False), "default": (False, False)},
    "b_read_all": {"a": (True, False), "b": (True, True), "default": (True, False)},
}
COLLECTIONS = ("a", "b", "default")
DOCS = {
    "a": {"shared.txt": "Alphaville harbour\nThe harbour of Alphaville has twelve cranes and a blue lighthouse."},
    "b": {
        "shared.txt": "Betatown harbour\nThe harbour of Betatown has forty cranes and a red lighthouse.",
        "secret.txt": "Betatown budget\nThe secret Betatown harbour budget is ninety-nine million won.",
    },
}


def auth(name: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"} if name else {}


def make(harness: Harness, read_requires_key: bool) -> TestClient:
    client = harness.client(api_keys=ENTRIES, read_requires_key=read_requires_key)
    for collection, docs in DOCS.items():
        for source, text in docs.items():
            body = {"source": source, "text": text, "collection": collection}
            r = client.post("/v1/documents", json=body, headers=auth("plain"))
            assert r.status_code == 201, r.text
    return client


def test_key_entries_parse() -> None:
    assert parse_key("k") == ("k", KeyScope(frozenset({"*"}), frozenset({"*"})))
    assert parse_key("k:*") == ("k", KeyScope(frozenset(), frozenset({"*"})))
    key, scope = parse_key("k:a+read:b")
    assert key == "k" and scope.may_write("a") and scope.may_read("a") and scope.may_read("b")
    assert not scope.may_write("b") and not scope.may_read("c")


# ----------------------------------------------------------------------------------------- the route matrix


def read_routes(client: TestClient, collection: str, headers: dict[str, str], answer_id: str) -> dict[str, int]:
    question = {"question": "How many cranes does the harbour have?", "collection": collection}
    codes = {
        "ask": client.post("/v1/ask", json=question, headers=headers).status_code,
        "search": client.get(
            "/v1/search", params={"q": "harbour cranes", "collection": collection}, headers=headers
        ).status_code,
        "list": client.get("/v1/documents", params={"collection": collection}, headers=headers).status_code,
        "get": client.get(
            f"/v1/documents/{'shared.txt' if collection in DOCS else SEED_SOURCE}",
            params={"collection": collection},
            headers=headers,
        ).status_code,
    }
    with client.stream("POST", "/v1/ask/stream", json=question, headers=headers) as r:
        codes["stream"] = r.status_code
        r.read()
    chat = {"messages": [{"role": "user", "content": "Harbour cranes?"}], "collection": collection}
    codes["chat"] = client.post("/v1/chat/completions", json=chat, headers=headers).status_code
    codes["feedback"] = client.post(
        "/v1/feedback", json={"answer_id": answer_id, "rating": "up"}, headers=headers
    ).status_code
    return codes


def write_routes(client: TestClient, collection: str, headers: dict[str, str], tag: str) -> dict[str, int]:
    source = f"w-{tag}.txt"
    body = {"source": source, "text": f"Note {tag}\nA note about harbours.", "collection": collection}
    codes = {"post": client.post("/v1/documents", json=body, headers=headers).status_code}
    files = {"file": (f"u-{tag}.txt", f"Upload {tag}\nAn upload about harbours.".encode(), "text/plain")}
    codes["upload"] = client.post(
        "/v1/documents", files=files, data={"collection": collection}, headers=headers
    ).status_code
    victim = f"v-{tag}.txt"
    made = client.post(
        "/v1/documents",
        json={"source": victim, "text": f"Victim {tag}\nTo be deleted.", "collection": collection},
        headers=auth("plain"),
    )
    assert made.status_code == 201
    codes["delete"] = client.delete(
        f"/v1/documents/{victim}", params={"collection": collection}, headers=headers
    ).status_code
    still = client.get(f"/v1/documents/{victim}", params={"collection": collection}, headers=auth("plain"))
    assert (still.status_code == 404) == (codes["delete"] == 200)
    return codes


@pytest.mark.parametrize("read_requires_key", [True, False])
def test_every_route_and_scope(harness: Harness, read_requires_key: bool) -> None:
    client = make(harness, read_requires_key)
    answers = {
        c: client.post("/v1/ask", json={"question": "Harbour?", "collection": c}, headers=auth("plain")).json()["id"]
        for c in COLLECTIONS
    }
    for key, collection in itertools.product([*KEYS, None], COLLECTIONS):
        headers = auth(key)
        may_read, may_write = ALLOWED[key][collection] if key else (not read_requires_key, False)
        if not read_requires_key:
            may_read = True
        for route, code in read_routes(client, collection, headers, answers[collection]).items():
            expected_denial = 401 if key is None else 403
            if may_read:
                assert code in (200, 201), (key, collection, route, code)
            else:
                assert code == expected_denial, (key, collection, route, code)
        for route, code in write_routes(client, collection, headers, f"{key}-{collection}").items():
            if may_write:
                assert code in (200, 201), (key, collection, route, code)
            else:
                assert code == (401 if key is None else 403), (key, collection, route, code)


def test_a_scoped_key_never_gets_feedback_into_another_collection(harness: Harness) -> None:
    client = make(harness, True)
    answer = client.post("/v1/ask", json={"question": "Harbour?", "collection": "b"}, headers=auth("plain")).json()
    r = client.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "down"}, headers=auth("a"))
    assert r.status_code == 403 and "collection 'b'" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------------------- leaks


def texts_of(body: dict[str, Any]) -> str:
    parts = [p["text"] for p in body.get("passages", [])]
    parts += [c["quote"] for c in body.get("citations", [])]
    parts.append(str(body.get("answer", "")))
    return "\n".join(parts)


def test_no_passage_crosses_collections(harness: Harness) -> None:
    client = make(harness, False)
    question = "What is the secret Betatown harbour budget?"
    for collection, foreign in (("a", "Betatown"), ("default", "Betatown"), ("b", "Alphaville")):
        r = client.get("/v1/search", params={"q": question + " Alphaville", "k": 10, "collection": collection})
        assert r.status_code == 200
        assert foreign not in texts_of(r.json()), collection
        asked = client.post("/v1/ask", json={"question": question, "collection": collection}).json()
        assert foreign not in texts_of(asked), (collection, asked)
        with client.stream("POST", "/v1/ask/stream", json={"question": question, "collection": collection}) as s:
            events = parse_sse("".join(s.iter_text()))
        streamed = next(e.data for e in events if e.event == "answer")
        passages = next(e.data for e in events if e.event == "passages")
        assert foreign not in texts_of(streamed) and all(foreign not in p["text"] for p in passages)
        chat = client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": question}], "collection": collection}
        ).json()
        assert foreign not in chat["choices"][0]["message"]["content"]
        assert all(foreign not in c["quote"] for c in chat["ragqa"]["citations"])
    # In its own collection the secret is found (the filter is what keeps it out elsewhere).
    own = client.get("/v1/search", params={"q": question, "collection": "b"}).json()
    assert any("ninety-nine" in p["text"] for p in own["passages"])
    asked_b = client.post("/v1/ask", json={"question": question, "collection": "b"}).json()
    assert not asked_b["refused"] and all(c["source"] in DOCS["b"] for c in asked_b["citations"])


def test_same_source_in_two_collections(harness: Harness) -> None:
    client = make(harness, False)
    a = client.get("/v1/documents/shared.txt", params={"collection": "a"}).json()
    b = client.get("/v1/documents/shared.txt", params={"collection": "b"}).json()
    assert "Alphaville" in a["text"] and "Betatown" in b["text"] and a["collection"] == "a"
    assert client.get("/v1/documents/shared.txt").status_code == 404
    listed = {
        c: {d["source"] for d in client.get("/v1/documents", params={"collection": c}).json()["documents"]}
        for c in COLLECTIONS
    }
    assert listed == {"a": {"shared.txt"}, "b": {"shared.txt", "secret.txt"}, "default": {SEED_SOURCE}}
    r = client.delete("/v1/documents/shared.txt", params={"collection": "a"}, headers=auth("plain"))
    assert r.status_code == 200
    assert client.get("/v1/documents/shared.txt", params={"collection": "b"}).status_code == 200
    for bad in ("../x", "", "a b", "x" * 65):
        assert client.get("/v1/documents", params={"collection": bad}).status_code == 422
        assert client.post("/v1/ask", json={"question": "Harbour?", "collection": bad}).status_code == 422


def test_pages_of_citations_in_a_collection(harness: Harness) -> None:
    from tests.rag.test_documents import make_pdf
    from tests.rag.test_pages import PAGES

    client = make(harness, False)
    files = {"file": ("report.pdf", make_pdf(pages=PAGES), "application/pdf")}
    r = client.post("/v1/documents", files=files, data={"collection": "pdfs"}, headers=auth("plain"))
    assert r.status_code == 201, r.text
    body = client.post(
        "/v1/ask", json={"question": "When does the cider press in the valley open?", "collection": "pdfs"}
    ).json()
    assert body["citations"] and any(c["page"] == 3 for c in body["citations"])
    assert all(p["page"] in (1, 2, 3) for p in body["passages"])


def test_demo_page_of_a_collection(harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rag import cli

    client = harness.client(demo_collection="b")
    make_docs = {"source": "beta.txt", "text": "Beta page\nListed on the demo page.", "collection": "b"}
    assert (
        client.post("/v1/documents", json=make_docs, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 201
    )
    page = client.get("/").text
    assert "beta.txt" in page and SEED_SOURCE not in page
    assert '<script src="/widget.js" data-collection="b" ' in page
    default_page = harness.client().get("/").text
    assert SEED_SOURCE in default_page and "data-collection" not in default_page
    # `ragqa serve --collection b` hands the collection to the app it starts, in its settings (not the environment).
    started: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **k: started.append((app, k)))
    for name in ("RAGQA_DEMO_COLLECTION", "RAGQA_DATA_DIR", "RAGQA_MODELS_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so that anything cmd_serve set would be undone after the test
        monkeypatch.delenv(name)
    assert cli.main(["serve", "--collection", "b", "--data-dir", str(tmp_path / "x"), "--port", "8123"]) == 0
    [(app, kwargs)] = started
    settings = app.state.ragqa.settings
    assert settings.demo_collection == "b" and settings.data_dir == tmp_path / "x" and settings.port == 8123
    assert kwargs["port"] == 8123 and kwargs["host"] == settings.host
    assert not {"RAGQA_DEMO_COLLECTION", "RAGQA_DATA_DIR", "RAGQA_MODELS_DIR"} & set(os.environ)
