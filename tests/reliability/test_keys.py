"""API keys and limits: constant-time comparison, never logged or echoed, rate limit → 429 + Retry-After, writes
refused without a key."""

from __future__ import annotations

import hmac
import logging
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

import api.deps
from tests.api.helpers import API_KEY, AUTH, Harness
from tests.reliability.crash import PYTHON, REPO_ROOT

SECOND_KEY = "second-key-0b1e2d3c4f5a"
WRONG_KEY = "wrong-key-77aa88bb99cc"
DOC = {"source": "keys/note.txt", "text": "The harbour council approved the budget for the new ferry station."}
SECRETS = (API_KEY, SECOND_KEY, WRONG_KEY)
PLAIN_COMPARISON = re.compile(r"get_secret_value\(\)[^\n]*(==|!=|\bin\b)|(==|!=)[^\n]*get_secret_value\(\)")


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_keys_are_compared_in_constant_time_against_every_configured_key(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.deps.hmac, "compare_digest", counting)
    client = harness.client(api_keys=[API_KEY, SECOND_KEY])
    for headers, status in (
        (AUTH, 201),
        ({"Authorization": f"Bearer {SECOND_KEY}"}, 201),
        ({"Authorization": f"Bearer {WRONG_KEY}"}, 401),
    ):
        calls.clear()
        response = client.post("/v1/documents", json=DOC, headers=headers)
        assert response.status_code == status, response.text
        assert len(calls) == 2  # every configured key is compared, whichever matches
        assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)
    # and no key is compared any other way in the HTTP edge
    for path in (REPO_ROOT / "api").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not PLAIN_COMPARISON.search(source), path


def test_write_routes_are_refused_without_a_valid_key(harness: Harness) -> None:
    engine = harness.engine()
    client = harness.client(engine)
    before = engine.store.stats()
    for headers in ({}, {"Authorization": f"Bearer {WRONG_KEY}"}, {"Authorization": API_KEY}, {"X-API-Key": API_KEY}):
        added = client.post("/v1/documents", json=DOC, headers=headers)
        files = {"file": ("note.txt", b"Some text for the upload route.", "text/plain")}
        uploaded = client.post("/v1/documents", files=files, headers=headers)
        deleted = client.delete("/v1/documents/seoul-arms-ukraine.txt", headers=headers)
        for response in (added, uploaded, deleted):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["message"]
            _assert_no_secret(response.text)
    assert engine.store.stats() == before

    no_keys = harness.client(api_keys=[])
    refused = no_keys.post("/v1/documents", json=DOC, headers=AUTH)
    assert refused.status_code == 403
    assert "RAGQA_API_KEYS" in refused.json()["error"]["message"]
    _assert_no_secret(refused.text)

    reads = harness.client(read_requires_key=True)
    assert reads.get("/v1/search", params={"q": "Seoul"}).status_code == 401
    assert reads.get("/v1/search", params={"q": "Seoul"}, headers=AUTH).status_code == 200


def test_rate_limit_answers_429_with_retry_after(harness: Harness) -> None:
    client = harness.client(rate_limit_per_minute=3)
    statuses = [client.get("/v1/search", params={"q": "Seoul arms"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.post("/v1/ask", json={"question": "Why is Seoul reconsidering arms to Ukraine?"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    body = limited.json()["error"]
    assert body["type"] == "rate_limited" and "rate_limit_per_minute" in body["message"]
    assert client.get("/healthz").status_code == 200  # probes are not limited


def test_keys_never_appear_in_logs_or_error_bodies(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = harness.client(api_keys=[API_KEY, SECOND_KEY], read_requires_key=True)
    bodies = []
    for headers in (AUTH, {"Authorization": f"Bearer {WRONG_KEY}"}, {"Authorization": f"Basic {WRONG_KEY}"}):
        bodies += [
            client.post("/v1/documents", json=DOC, headers=headers),
            client.post("/v1/documents", json={"source": "../x", "text": "t"}, headers=headers),
            client.get("/v1/search", params={"q": "Seoul"}, headers=headers),
            client.post("/v1/ask", json={"question": ""}, headers=headers),
            client.delete("/v1/documents/missing.txt", headers=headers),
            client.get("/v1/documents/missing.txt", headers=headers),
        ]
    assert {r.status_code for r in bodies} >= {200, 201, 400, 401, 404, 422}
    for response in bodies:
        _assert_no_secret(response.text)
        _assert_no_secret(str(response.headers))
    assert caplog.records, "nothing was logged, so the check below would prove nothing"
    _assert_no_secret(caplog.text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_live_server_never_logs_a_key(tmp_path: Path) -> None:
    """uvicorn in another process at debug level (app and access logs): the keys never reach its output."""
    port = _free_port()
    env = {
        **os.environ,
        "RAGQA_DATA_DIR": str(tmp_path / "data"),
        "RAGQA_API_KEYS": f"{API_KEY},{SECOND_KEY}",
        "RAGQA_RATE_LIMIT_PER_MINUTE": "0",
        "RELIABILITY_DEBUG_LOGS": "1",
    }
    cmd = [PYTHON, "-m", "uvicorn", "--factory", "tests.reliability.fake_app:create", "--port", str(port)]
    server = subprocess.Popen(
        [*cmd, "--log-level", "debug"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=url) as http:
            for headers in (AUTH, {"Authorization": f"Bearer {SECOND_KEY}"}, {"Authorization": f"Bearer {WRONG_KEY}"}):
                responses = [
                    http.post("/v1/documents", json=DOC, headers=headers),
                    http.delete("/v1/documents/keys/note.txt", headers=headers),
                    http.post("/v1/ask", json={"question": "Why is Seoul reconsidering arms?"}, headers=headers),
                    http.post(
                        "/v1/documents", content=b"{bad json", headers={**headers, "content-type": "application/json"}
                    ),
                ]
                for response in responses:
                    assert response.status_code < 500, response.text
                    _assert_no_secret(response.text)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode("utf-8", errors="replace")
    assert "POST /v1/documents" in output and "request_id=" in output  # the logs were captured
    _assert_no_secret(output)
