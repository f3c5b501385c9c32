"""Export an older commit's tree for side-by-side benchmarks (``git archive``, no worktree, no checkout)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def export_ref(ref: str, dest: Path) -> Path:
    """Write the tree of ``ref`` (a commit of this repository) into ``dest`` and return it."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest
