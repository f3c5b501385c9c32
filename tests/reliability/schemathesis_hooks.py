"""Schemathesis CLI hooks for ``bench/reliability/fuzz.sh``: the ragqa error contract as a check."""

from __future__ import annotations

import schemathesis

from tests.reliability.fuzzing import error_problem


@schemathesis.check
def ragqa_error_contract(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every 4xx is JSON ``{"error": {"type", "message"}}`` with a message; nothing is ≥ 500."""
    content_type = response.headers.get("content-type", [""])[0]
    problem = error_problem(response.status_code, content_type, response.content)
    if problem:
        raise AssertionError(problem)
