"""Health, readiness, metrics, request ids, CORS, the widget's static files and the demo page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.helpers import AUTH, Harness, ingest_text
from tests.conftest import HEADLINE, SEED_SOURCE

LABEL = r'[a-z_]+="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(rf"[a-z_]+(?:\{{{LABEL}(?:,{LABEL})*\}})? -?[0-9.e+-]+")


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["documents"] == 1 and ready["chunks"] > 0
    assert set(ready["models"]) == {"embedder", "reranker", "generator", "judge"}


def test_readyz_is_503_without_the_configured_judge(harness: Harness) -> None:
    engine = harness.engine()
    engine.judge = None
    r = harness.client(engine).get("/readyz")
    assert r.status_code == 503 and "judge" in r.json()["error"]["message"]


def test_readyz_is_503_without_a_generator(harness: Harness) -> None:
    engine = harness.engine()
    engine.generator = None
    client = harness.client(engine)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "not_ready" and "generator" in r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_index_is_closed(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    engine.store.close()
    r = client.get("/readyz")
    assert r.status_code == 503 and "index" in r.json()["error"]["message"]


def test_metrics_after_traffic(client: TestClient) -> None:
    client.post("/v1/ask", json={"question": HEADLINE})
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as r:
        r.read()
    client.get("/v1/documents/missing.txt")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'ragqa_http_requests_total{method="POST",route="/v1/ask",status="200"} 1' in text
    assert 'ragqa_http_requests_total{method="GET",route="/v1/documents/{source:path}",status="404"} 1' in text
    assert 'ragqa_http_request_duration_seconds_count{method="POST",route="/v1/ask/stream"} 1' in text
    for stage in ("retrieval", "rerank", "generation", "total"):
        assert re.search(rf'ragqa_answer_stage_seconds_count\{{stage="{stage}"\}} 2', text), stage
    assert 'ragqa_answers_total{refused="false"} 2' in text
    assert "ragqa_generation_queue_depth 0" in text
    assert "ragqa_documents 1" in text
    assert re.search(r"^ragqa_chunks [1-9]\d*$", text, re.MULTILINE)
    # Every sample line is "name{labels} value" or "name value".
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert SAMPLE.fullmatch(line), line


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/nope").headers["x-request-id"]


def test_cors(harness: Harness) -> None:
    client = harness.client(cors_origins=["https://blog.example"])
    r = client.options(
        "/v1/ask/stream",
        headers={
            "Origin": "https://blog.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://blog.example"
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_widget_js_is_served_and_never_uses_html_sinks(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    js = r.text
    assert "attachShadow" in js and "/v1/ask/stream" in js and "getReader" in js
    assert "customElements.define(" in js and "AbortController" in js and "/v1/widget/config" in js
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "http://" not in js.replace("http://HOST", "").replace("http://www.w3.org/2000/svg", "")


def test_demo_page_escapes_titles(harness: Harness) -> None:
    engine = harness.engine()
    ingest_text(engine, "evil<b>.txt", "Body text about things.", title='<img src=x onerror="alert(1)"> & co')
    client = harness.client(engine)
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<script src="/widget.js"' in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co" in page
    assert "<img" not in page and "evil&lt;b&gt;.txt" in page
    assert "Indexed articles (2)" in page
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/ask",
        "/v1/ask/stream",
        "/v1/chat/completions",
        "/v1/search",
        "/v1/documents",
        "/v1/documents/{source}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    assert "multipart/form-data" in paths["/v1/documents"]["post"]["requestBody"]["content"]
    assert client.post("/v1/documents", json={"source": SEED_SOURCE, "text": "x"}, headers=AUTH).status_code == 201


def test_widget_config_is_the_servers_limits_open_to_any_embedding_page(harness: Harness) -> None:
    client = harness.client(max_question_chars=300, max_history=6, read_requires_key=True)
    r = client.get("/v1/widget/config", headers={"Origin": "https://blog.example"})
    assert r.status_code == 200, r.text  # no key needed, even when reads need one
    assert r.json() == {
        "max_question_chars": 300,
        "max_history": 6,
        "max_turn_chars": 20_000,
        "max_comment_chars": 2000,
    }
    assert r.headers["access-control-allow-origin"] == "https://blog.example"
    assert "/v1/widget/config" in client.get("/openapi.json").json()["paths"]
