"""Fuzz every route of a live app on the fake engine from its own ``/openapi.json`` (schemathesis, positive and
negative data, with a valid API key so writes are exercised): no response ≥ 500, every error JSON with a message.
Bounded here (50 examples per operation and mode); ``bench/reliability/fuzz.sh`` runs the bigger CLI campaign."""

from __future__ import annotations

import time

from api.app import create_app
from tests.api.helpers import AUTH, Harness, LiveServer
from tests.reliability.fuzzing import fuzz


def test_fuzzing_every_route_finds_no_server_error(harness: Harness) -> None:
    engine = harness.engine(rate_limit_per_minute=0, max_upload_bytes=200_000)
    started = time.monotonic()
    with LiveServer(create_app(engine.settings, engine)) as server:
        report = fuzz(server.url, AUTH, max_examples=50)
    seconds = time.monotonic() - started
    statuses = dict(sorted(report.statuses.items()))
    print(
        f"fuzz: {report.cases} cases, statuses {statuses}, no invalid input for {report.unsatisfiable}, {seconds:.0f} s"
    )
    assert not report.problems, report.problems[:10]
    assert report.server_errors == 0
    assert len(report.per_operation) >= 8  # every documented route was reached
    assert report.cases >= 8 * 25
    assert any(200 <= s < 300 for s in report.statuses) and any(400 <= s < 500 for s in report.statuses)
    assert engine.store.verify().ok
