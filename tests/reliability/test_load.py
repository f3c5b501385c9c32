"""A short run of ``bench/reliability/load.py``: 8 clients for 10 s against a live fake-engine server."""

from __future__ import annotations

import json
import subprocess

from tests.reliability.crash import PYTHON, REPO_ROOT


def test_short_load_run_has_no_failures_and_no_memory_growth() -> None:
    done = subprocess.run(
        [PYTHON, "bench/reliability/load.py", "--clients", "8", "--duration", "10", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(summary)
    assert summary["failures"] == 0, summary["failure_examples"]
    assert summary["requests"] >= 40
    for route in ("ask", "stream", "search", "health"):
        assert summary["routes"][route]["ok"] > 0, summary["routes"][route]
    assert summary["rss_growth_pct"] <= 10.0
    assert done.returncode == 0, done.stderr[-2000:]
