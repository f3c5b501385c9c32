"""Atomic file writes and ``manifest.json``, the description of ``vectors.faiss``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_KEYS = (
    "embedder_id",
    "embedder_checksum",
    "dimension",
    "metric",
    "normalized",
    "generation",
    "vectors",
    "faiss_version",
    "numpy_version",
    "sqlite_version",
    "schema_version",
    "faiss_sha256",
)


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, rename over ``path``, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest as sorted JSON, atomically (temp file + fsync + rename)."""
    atomic_write(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and shape-check a manifest; ``ValueError``/``OSError`` if missing or malformed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("manifest is not a JSON object")
    missing = [key for key in MANIFEST_KEYS if key not in data]
    if missing:
        raise ValueError(f"manifest lacks {', '.join(missing)}")
    return data
