"""Two replicas, one index: two ``ragqa serve`` processes (real models) over one Milvus, started by the test.

A document uploaded through replica A is searched and answered from by replica B within a bounded delay; a delete
through B disappears from A. Each replica has its own, empty data dir: the index (texts included) lives in Milvus.
The Milvus is ``milvus-lite server`` (the ``milvus_server`` fixture); production points RAGQA_MILVUS_URI at a Milvus
standalone or cluster instead, nothing else changes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import API_KEY, AUTH, seed_text
from tests.conftest import HEADLINE, REPO_ROOT
from tests.milvus import MilvusServer, free_port, unique_prefix
from tests.reliability.crash import PYTHON

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 420.0
VISIBLE_WITHIN_S = 10.0
SOURCE = "replicated/seoul.txt"


class Replica:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        data_dir = workdir / name / "data"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO_ROOT,
                env={**env, "RAGQA_DATA_DIR": str(data_dir)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise AssertionError(f"replica not ready: {self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def replicas(tmp_path: Path, milvus_server: MilvusServer) -> Iterator[tuple[Replica, Replica]]:
    prefix = unique_prefix("replicas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    env.update(
        {
            "RAGQA_STORE": "milvus",
            "RAGQA_MILVUS_URI": milvus_server.uri,
            "RAGQA_MILVUS_COLLECTION_PREFIX": prefix,
            "RAGQA_API_KEYS": API_KEY,
            # What is shared is the index: two replicas need not also hold two answerability judges (~4 GB each).
            "RAGQA_JUDGE": "",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    if "RAGQA_MODELS_DIR" in os.environ:
        env["RAGQA_MODELS_DIR"] = os.environ["RAGQA_MODELS_DIR"]
    a = Replica("a", env, tmp_path)
    b = Replica("b", env, tmp_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        a.wait_ready(deadline)
        b.wait_ready(deadline)
        yield a, b
    finally:
        a.stop()
        b.stop()
        milvus_server.drop(prefix)


def _poll(check: httpx.Client, params: dict[str, str | int], want: bool) -> float:
    """Seconds until /v1/search on ``check`` finds SOURCE (``want``) or stops finding it; fails after the bound."""
    started = time.monotonic()
    while time.monotonic() - started < VISIBLE_WITHIN_S:
        passages = check.get("/v1/search", params=params).json()["passages"]
        if any(p["source"] == SOURCE for p in passages) == want:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(
        f"replica {check.base_url} did not {'see' if want else 'drop'} {SOURCE} in {VISIBLE_WITHIN_S}s"
    )


def test_two_replicas_share_one_index(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    text = seed_text()
    with httpx.Client(base_url=a.url, timeout=300) as http_a, httpx.Client(base_url=b.url, timeout=300) as http_b:
        assert http_b.get("/v1/documents").json()["documents"] == []
        up = http_a.post("/v1/documents", json={"source": SOURCE, "text": text}, headers=AUTH)
        assert up.status_code == 201, up.text
        query = {"q": HEADLINE, "k": 3}
        _poll(http_b, query, want=True)
        # B answers from A's upload, quoting exact spans of the text it reads from Milvus.
        r = http_b.post("/v1/ask", json={"question": HEADLINE})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["refused"] is False, body["refusal_reason"]
        assert body["citations"]
        stored = http_b.get(f"/v1/documents/{SOURCE}").json()["text"]
        assert stored.strip() == text.strip()
        for c in body["citations"]:
            assert c["source"] == SOURCE
            assert stored[c["start"] : c["end"]] == c["quote"]
        # A delete through B disappears from A.
        deleted = http_b.delete(f"/v1/documents/{SOURCE}", headers=AUTH)
        assert deleted.status_code == 200, deleted.text
        _poll(http_a, query, want=False)
        assert http_a.get(f"/v1/documents/{SOURCE}").status_code == 404
        assert http_a.get("/v1/documents").json()["documents"] == []
