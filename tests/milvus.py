"""A real Milvus for the tests: ``milvus-lite server`` (installed by the ``milvus`` extra) on a free local port.

Milvus Lite *files* can be opened by one process only; the server speaks the Milvus gRPC protocol to several
clients, as a Milvus standalone deployment would. Started by the session fixture ``milvus_server``
(``tests/conftest.py``), stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pymilvus import MilvusClient

MILVUS_LITE = Path(sys.executable).with_name("milvus-lite")
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_prefix(tag: str = "t") -> str:
    return f"{tag}_{uuid.uuid4().hex[:10]}_"


class MilvusServer:
    """One ``milvus-lite server`` process over ``data_dir``; ``uri`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"milvus-lite-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MilvusServer:
        exe = str(MILVUS_LITE) if MILVUS_LITE.exists() else shutil.which("milvus-lite")
        assert exe, "milvus-lite is not installed (pip install 'ragqa[milvus]')"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [exe, "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                client = MilvusClient(uri=self.uri, timeout=5)
                client.list_collections()
                client.close()
                return self
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"milvus-lite server did not start in {START_TIMEOUT_S}s: {last}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def drop(self, prefix: str) -> None:
        """Drop the collections of one test's index."""
        with contextlib.suppress(Exception):
            client = MilvusClient(uri=self.uri, timeout=10)
            for name in client.list_collections():
                if name.startswith(prefix):
                    client.drop_collection(name)
            client.close()
