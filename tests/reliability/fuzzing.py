"""Schemathesis-driven fuzzing of a live ragqa server (``test_fuzz.py``; ``bench/reliability/fuzz.sh`` uses the CLI
with ``schemathesis_hooks.py``): every generated request, positive and negative, must get a status below 500,
and every error must be the JSON shape ``{"error": {"type", "message"}}`` with a message."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode


def error_problem(status: int, content_type: str, body: bytes) -> str | None:
    """Why a response breaks the error contract (None if it is fine)."""
    if status >= 500:
        return f"server error {status}: {body[:200]!r}"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} error is {content_type or 'no content type'}, not JSON"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} error body is not JSON: {body[:200]!r}"
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or not error.get("type") or not error.get("message"):
        return f"{status} error body lacks error.type/error.message: {body[:200]!r}"
    return None


@dataclass
class FuzzReport:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    unsatisfiable: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def fuzz(base_url: str, headers: dict[str, str], *, max_examples: int, seed: int = 0) -> FuzzReport:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport()

    def runner(label: str, strategy: object) -> Callable[[], None]:
        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=seed == 0,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            report.cases += 1
            report.per_operation[label] += 1
            report.statuses[response.status_code] += 1
            content_type = response.headers.get("content-type", [""])[0]
            problem = error_problem(response.status_code, content_type, response.content)
            if problem:
                report.problems.append(f"{case.method} {case.formatted_path}: {problem}")

        return hypothesis.seed(seed)(run) if seed else run

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                runner(operation.label, operation.as_strategy(generation_mode=mode))()
            except hypothesis.errors.Unsatisfiable:
                report.unsatisfiable.append(f"{operation.label} ({mode.value})")  # e.g. no invalid input exists
    return report
