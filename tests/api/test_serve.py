"""``ragqa serve`` as it really runs (a subprocess over the fake engine): forwarded headers are not trusted unless
configured (issue 13, defect 3), and the app writes one redacted access line per request while uvicorn's own
access log stays off (defect 7). Plus the trusted-proxy middleware on its own."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.proxies import TrustedProxyMiddleware
from tests.conftest import REPO_ROOT

SECRET = "query-secret-7d41c0"

# The real CLI entry point, with Engine.load answering from the fakes (no model files in the fast tier).
DRIVER = """
import sys
from rag.engine import Engine
from tests.conftest import build_fake_engine
Engine.load = classmethod(lambda cls, settings, **kwargs: build_fake_engine(settings))
from rag import cli
sys.exit(cli.main(sys.argv[1:]))
"""


@dataclass
class Served:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log()
            if needle in text:
                return text
            time.sleep(0.05)
        return self.log()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "RAGQA_API_KEYS": "serve-test-key",
            "RAGQA_RATE_LIMIT_PER_MINUTE": "3",
        }
    )
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, "serve", "--port", str(port), "--data-dir", str(work / "data")],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ragqa serve exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ragqa serve did not become ready:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield Served(url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_forwarded_for_from_an_untrusted_client_does_not_escape_the_rate_limit(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        statuses = [http.get("/v1/search", params={"q": "x"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert http.get("/v1/search", params={"q": "x"}).status_code == 429
        forged = http.get("/v1/search", params={"q": "x"}, headers={"X-Forwarded-For": "10.0.0.1"})
        assert forged.status_code == 429
    log = served.wait_for("status=429")
    assert "10.0.0.1" not in log


def test_one_redacted_access_line_per_request_and_no_uvicorn_access_log(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        r = http.get("/healthz", params={"api_key": SECRET, "x": "1"}, headers={"X-Request-ID": "serve-log-1"})
    assert r.status_code == 200
    log = served.wait_for("request_id=serve-log-1")
    lines = [line for line in log.splitlines() if "serve-log-1" in line]
    assert len(lines) == 1, log
    line = lines[0]
    for part in ("method=GET", "path=/healthz?api_key=***&x=***", "status=200", "duration_ms="):
        assert part in line, line
    assert SECRET not in log
    assert '"GET /healthz' not in log  # uvicorn's access log format


# ---------------------------------------------------------------- the middleware alone


async def _call(app: TrustedProxyMiddleware, client: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> Scope:
    seen: dict[str, Scope] = {}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen["scope"] = scope

    app.app = inner
    scope: Scope = {"type": "http", "client": client, "headers": headers, "scheme": "http", "path": "/"}
    await app(scope, receive, send)
    return seen["scope"]


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "127.0.0.1", b"10.0.0.1", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", b"10.0.0.1", "10.0.0.1"),
        (["127.0.0.1"], "192.168.1.5", b"10.0.0.1", "192.168.1.5"),
        (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", b"203.0.113.9, 10.1.2.3", "203.0.113.9"),
        (["127.0.0.1"], "127.0.0.1", b"203.0.113.9, 198.51.100.7", "198.51.100.7"),
        (["127.0.0.1"], "127.0.0.1", b"not-an-ip", "127.0.0.1"),
        (["::1"], "::1", b"2001:db8::1", "2001:db8::1"),
    ],
)
def test_trusted_proxy_middleware(trusted: list[str], peer: str, forwarded: bytes, expected: str) -> None:
    app = TrustedProxyMiddleware(lambda s, r, se: None, trusted)  # type: ignore[arg-type,return-value]
    scope = asyncio.run(_call(app, (peer, 5000), [(b"x-forwarded-for", forwarded), (b"x-forwarded-proto", b"https")]))
    assert scope["client"][0] == expected
    assert scope["scheme"] == ("https" if expected != peer else "http")


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        TrustedProxyMiddleware(lambda s, r, se: None, ["not a network"])  # type: ignore[arg-type,return-value]
