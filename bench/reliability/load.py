"""Load: N concurrent async clients against a live server on 127.0.0.1 for D seconds, mixing ask, stream, search,
health and uploads (small JSON documents with the write key). Prints throughput, p50/p95 per route, statuses,
failures and the server's RSS before/after.

    .venv/bin/python bench/reliability/load.py                       # fake engine, 32 clients, 60 s
    .venv/bin/python bench/reliability/load.py --clients 8 --duration 10 --json
    .venv/bin/python bench/reliability/load.py --real                # `ragqa serve` with the real models

A failure is anything but a 2xx, or a 429/503 that carries Retry-After (the documented back-pressure), or a stream
that does not end with its `done` event. Exit 1 on any failure or RSS growth above --max-rss-growth (10%).
The fake server is ``tests/reliability/fake_app.py`` (scripted generator sleeping --token-delay-ms per word).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
QUESTIONS = [
    "Why is Seoul reconsidering arms to Ukraine?",
    "What did the president say about weapons?",
    "Who won the 2022 World Cup?",
    "What is South Korea's policy on arms exports?",
]
ROUTES = (("ask", 0.3), ("stream", 0.2), ("search", 0.3), ("health", 0.1), ("upload", 0.1))
UPLOAD_TEXT = (
    "Load note {n}. The harbour ferry ran {n} times this season. Storms closed the port on some days, "
    "and the keeper wrote every crossing in a blue ledger."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "RAGQA_DATA_DIR": str(work / "data"),
        "RAGQA_RATE_LIMIT_PER_MINUTE": str(args.rate_limit),
        "RAGQA_API_KEYS": "load-key",
        "RELIABILITY_TOKEN_DELAY_MS": str(args.token_delay_ms),
    }
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed with the process
    if args.real:
        ragqa = str(Path(PYTHON).with_name("ragqa"))
        subprocess.run([ragqa, "ingest", "--data-dir", str(work / "data"), str(REPO_ROOT / "seeds")], check=True)
        cmd = [ragqa, "serve", "--data-dir", str(work / "data"), "--port", str(port)]
    else:
        cmd = [PYTHON, "-m", "uvicorn", "--factory", "tests.reliability.fake_app:create", "--port", str(port)]
        cmd += ["--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + (900 if args.real else 60)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {work / 'server.log'}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not become ready")


def server_rss(proc: subprocess.Popen[bytes]) -> int:
    """RSS of the server process and its children (``ragqa serve`` runs uvicorn in-process; counted anyway)."""
    p = psutil.Process(proc.pid)
    return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))


async def one_request(http: httpx.AsyncClient, route: str, rng: random.Random) -> tuple[int, str, bool]:
    """(status, problem or '', acceptable back-pressure)."""
    question = rng.choice(QUESTIONS)
    if route == "health":
        r = await http.get("/healthz")
    elif route == "search":
        r = await http.get("/v1/search", params={"q": question, "k": 5})
    elif route == "ask":
        r = await http.post("/v1/ask", json={"question": question})
    elif route == "upload":
        n = rng.randrange(1_000_000)
        doc = {"source": f"load/{n}.txt", "text": UPLOAD_TEXT.format(n=n)}
        r = await http.post("/v1/documents", json=doc, headers={"Authorization": "Bearer load-key"})
    else:
        async with http.stream("POST", "/v1/ask/stream", json={"question": question}) as s:
            body = (await s.aread()).decode("utf-8", errors="replace")
            r = s
            if s.status_code == 200 and "event: done" not in body:
                tail = body[-300:].replace("\n", " | ")
                return s.status_code, f"stream ended without done: {tail}", False
    if 200 <= r.status_code < 300:
        return r.status_code, "", False
    if r.status_code in (429, 503) and r.headers.get("retry-after", "").isdigit():
        return r.status_code, "", True
    return r.status_code, f"{r.status_code}: {r.text[:200]}", False


async def client_loop(
    url: str, deadline: float, seed: int, results: list[tuple[str, int, float, str, bool]], timeout: float
) -> None:
    rng = random.Random(seed)
    names, weights = zip(*ROUTES, strict=True)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        while time.monotonic() < deadline:
            route = rng.choices(names, weights)[0]
            started = time.perf_counter()
            try:
                status, problem, backpressure = await one_request(http, route, rng)
            except httpx.HTTPError as exc:
                status, problem, backpressure = 0, f"{type(exc).__name__}: {exc}", False
            results.append((route, status, time.perf_counter() - started, problem, backpressure))
            if backpressure:
                await asyncio.sleep(0.05 + rng.random() * 0.1)  # a polite client backs off a little


async def run_load(url: str, clients: int, duration: float, timeout: float) -> list[tuple[str, int, float, str, bool]]:
    results: list[tuple[str, int, float, str, bool]] = []
    deadline = time.monotonic() + duration
    await asyncio.gather(*(client_loop(url, deadline, i, results, timeout) for i in range(clients)))
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]  # type: ignore[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--real", action="store_true", help="`ragqa serve` with the real models (slow start)")
    parser.add_argument("--token-delay-ms", type=float, default=20.0, help="fake generator: sleep per word")
    parser.add_argument("--rate-limit", type=int, default=0, help="RAGQA_RATE_LIMIT_PER_MINUTE (0 = off)")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout, s")
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragqa-load-"))
    proc, url = start_server(args, work)
    try:
        asyncio.run(run_load(url, 4, 2.0, args.timeout))  # warm-up: first-use allocations are not growth
        rss_before = server_rss(proc)
        started = time.monotonic()
        results = asyncio.run(run_load(url, args.clients, args.duration, args.timeout))
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        rss_after = server_rss(proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    by_route: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    failures = [f"{route}: {problem}" for route, _, _, problem, _ in results if problem]
    for route, status, seconds, problem, backpressure in results:
        statuses[route][status] += 1
        if not problem and not backpressure:
            by_route[route].append(seconds)
    growth = (rss_after - rss_before) / rss_before
    summary = {
        "mode": "real" if args.real else f"fake (token delay {args.token_delay_ms:g} ms)",
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "requests": len(results),
        "throughput_rps": round(len(results) / elapsed, 2),
        "failures": len(failures),
        "failure_examples": failures[:5],
        "routes": {
            route: {
                "ok": len(by_route[route]),
                "p50_ms": round(percentile(by_route[route], 50) * 1000, 1),
                "p95_ms": round(percentile(by_route[route], 95) * 1000, 1),
                "statuses": dict(sorted(statuses[route].items())),
            }
            for route, _ in ROUTES
        },
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "rss_growth_pct": round(growth * 100, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['mode']}: {args.clients} clients × {elapsed:.0f} s, {len(results)} requests "
            f"({summary['throughput_rps']} req/s)"
        )
        print(f"{'route':8} {'ok':>6} {'p50 ms':>9} {'p95 ms':>9}  statuses")
        for route, row in summary["routes"].items():  # type: ignore[union-attr]
            print(f"{route:8} {row['ok']:6d} {row['p50_ms']:9.1f} {row['p95_ms']:9.1f}  {row['statuses']}")
        print(f"failures: {len(failures)}")
        for failure in failures[:5]:
            print(f"  {failure}")
        print(
            f"server RSS: {summary['rss_before_mb']} MB before, {summary['rss_after_mb']} MB after "
            f"({summary['rss_growth_pct']:+.1f}%)"
        )
    return 0 if not failures and growth <= args.max_rss_growth else 1


if __name__ == "__main__":
    sys.exit(main())
