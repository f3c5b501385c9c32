"""Prometheus metrics in the text exposition format (0.0.4), kept by hand: a few counters and histograms.

ragqa_http_requests_total{method,route,status}          counter
ragqa_http_request_duration_seconds{method,route}       histogram
ragqa_answer_stage_seconds{stage}                       histogram (retrieval, rerank, generation, ...)
ragqa_answers_total{refused}                            counter
ragqa_generation_queue_depth / _in_flight / _capacity   gauges (read at scrape time)
ragqa_documents / ragqa_chunks                          gauges (read from the index at scrape time)
ragqa_rate_limited_total                                counter
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: Labels = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _fmt_value(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: Labels) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += count
            yield f"{name}_bucket{_fmt_labels(labels, (('le', _fmt_value(bound)),))} {cumulative}"
        yield f"{name}_sum{_fmt_labels(labels)} {self.total!r}"
        yield f"{name}_count{_fmt_labels(labels)} {cumulative}"


class Metrics:
    """Thread-safe store of the service's metrics; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._latency: dict[Labels, _Histogram] = {}
        self._stages: dict[Labels, _Histogram] = {}
        self._answers: dict[Labels, int] = {}
        self._rate_limited = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key: Labels = (("method", method), ("route", route), ("status", str(status)))
            self._requests[key] = self._requests.get(key, 0) + 1
            hkey: Labels = (("method", method), ("route", route))
            self._latency.setdefault(hkey, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_answer(self, timings: Mapping[str, float], refused: bool) -> None:
        with self._lock:
            for name, seconds in timings.items():
                stage = name.removesuffix("_s")
                self._stages.setdefault((("stage", stage),), _Histogram(LATENCY_BUCKETS)).observe(float(seconds))
            key: Labels = (("refused", "true" if refused else "false"),)
            self._answers[key] = self._answers.get(key, 0) + 1

    def rate_limited(self) -> None:
        with self._lock:
            self._rate_limited += 1

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges`` maps a metric name to (help, value), read by the caller at scrape time."""
        out: list[str] = []
        with self._lock:
            out += [
                "# HELP ragqa_http_requests_total HTTP requests by method, route template and status.",
                "# TYPE ragqa_http_requests_total counter",
            ]
            out += [f"ragqa_http_requests_total{_fmt_labels(k)} {v}" for k, v in sorted(self._requests.items())]
            out += [
                "# HELP ragqa_http_request_duration_seconds HTTP request latency (to the end of the body).",
                "# TYPE ragqa_http_request_duration_seconds histogram",
            ]
            for k, h in sorted(self._latency.items()):
                out += h.lines("ragqa_http_request_duration_seconds", k)
            out += [
                "# HELP ragqa_answer_stage_seconds Seconds per answering stage, from Answer.timings.",
                "# TYPE ragqa_answer_stage_seconds histogram",
            ]
            for k, h in sorted(self._stages.items()):
                out += h.lines("ragqa_answer_stage_seconds", k)
            out += ["# HELP ragqa_answers_total Answers given, by refusal.", "# TYPE ragqa_answers_total counter"]
            out += [f"ragqa_answers_total{_fmt_labels(k)} {v}" for k, v in sorted(self._answers.items())]
            out += [
                "# HELP ragqa_rate_limited_total Requests refused by the per-client rate limit.",
                "# TYPE ragqa_rate_limited_total counter",
                f"ragqa_rate_limited_total {self._rate_limited}",
            ]
        for name, (help_text, value) in gauges.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_fmt_value(value)}"]
        return "\n".join(out) + "\n"
