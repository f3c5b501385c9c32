#!/usr/bin/env python3
"""Cold start of the ``ragqa`` command line and server, measured from the shell with the models cached.

    .venv/bin/python bench/cold_start.py                          # index seeds/ into a temp dir, 3 rounds
    .venv/bin/python bench/cold_start.py --data-dir data --repeat 5 --json cold.json
    .venv/bin/python bench/cold_start.py --baseline-ref 6369a96   # the same, side by side with older code

Each round starts fresh processes, one after the other (never two at once, so they do not share the CPU):

* ``ragqa search QUESTION`` — seconds until the process has exited (its whole output printed);
* ``ragqa ask QUESTION`` — seconds until the first character of the answer is on stdout (the first sentence is
  streamed as one piece), and until the process has exited;
* ``ragqa serve`` — seconds until ``GET /readyz`` answers 200 (polled every 0.1 s), then the server is stopped.

With ``--phases`` the ``ask`` and ``serve`` processes run with ``-v`` and every log line they write is kept with
the second it arrived (stderr is read in a thread), so the load steps the code logs (the int8 file read and packed,
each model loaded, the judge's fixed prompt start computed) show where the start-up time goes; the timeline of the
last round of each code is printed and all of them go into ``--json``.

With ``--baseline-ref REF`` the tree of that commit is exported with ``git archive`` into a temporary folder and
every round runs the same three commands with it too (``PYTHONPATH`` pointing there), alternating with the
working tree's code, so both see the same machine load. The index is built once with the working tree's code.
This is a script that prints numbers, not a test with thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from baseline import export_ref  # noqa: E402  (bench/ is sys.path[0] when run as a script)

QUESTION = "Why is Seoul reconsidering arms to Ukraine?"
SERVE_TIMEOUT_S = 180.0


def _env(code_root: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code_root)
    env["RAGQA_DATA_DIR"] = str(data_dir)
    env["RAGQA_PROGRESS"] = "false"
    env.pop("RAGQA_GENERATOR_URL", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *args]


class _StderrLog:
    """Reads a process's stderr in a thread, keeping each line with the seconds since ``started``."""

    def __init__(self, proc: subprocess.Popen[bytes], started: float) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(proc, started), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes], started: float) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self.lines.append((round(time.perf_counter() - started, 2), raw.decode("utf-8", "replace").rstrip()))

    def done(self) -> list[tuple[float, str]]:
        self._thread.join(timeout=30)
        return [(t, line) for t, line in self.lines if line.startswith(("INFO", "WARNING", "ERROR"))]


def time_search(code_root: Path, data_dir: Path, question: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        _cli("search", question),
        cwd=code_root,
        env=_env(code_root, data_dir),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    return time.perf_counter() - started


def time_ask(
    code_root: Path, data_dir: Path, question: str, whole: bool, phases: list[tuple[float, str]] | None = None
) -> tuple[float, float, str]:
    """(seconds to the first answer character on stdout, seconds to exit or nan, the first line); without
    ``whole`` the process is stopped once the first line is out. With ``phases``, the process logs (``-v``) and its
    log lines up to then are appended there with their seconds, the first answer character as a line of its own."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        _cli("ask", *(["-v"] if phases is not None else []), question),
        cwd=code_root,
        env=_env(code_root, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if phases is not None else subprocess.DEVNULL,
    )
    log = _StderrLog(proc, started) if phases is not None else None
    assert proc.stdout is not None
    first = proc.stdout.read(1)
    first_s = time.perf_counter() - started
    if not first:
        raise RuntimeError(f"ragqa ask printed nothing (exit status {proc.wait()})")
    if not whole:
        rest = proc.stdout.readline()
        proc.terminate()
        proc.wait(timeout=60)
        result = first_s, float("nan"), (first + rest).decode("utf-8", "replace").strip()
    else:
        rest = proc.stdout.read()
        proc.wait(timeout=300)
        total_s = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"ragqa ask exited with {proc.returncode}")
        text = (first + rest).decode("utf-8", "replace").strip().splitlines()
        result = first_s, total_s, text[0] if text else ""
    if log is not None and phases is not None:
        phases.extend(sorted([*log.done(), (round(first_s, 2), "-- first answer character on stdout")]))
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_serve(code_root: Path, data_dir: Path, phases: list[tuple[float, str]] | None = None) -> float:
    """Seconds from starting ``ragqa serve`` until ``/readyz`` answers 200; the server is stopped afterwards. With
    ``phases``, its log lines until then are appended there (as in :func:`time_ask`)."""
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        _cli("serve", *(["-v"] if phases is not None else []), "--host", "127.0.0.1", "--port", str(port)),
        cwd=code_root,
        env=_env(code_root, data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if phases is not None else subprocess.DEVNULL,
    )
    log = _StderrLog(proc, started) if phases is not None else None
    try:
        while time.perf_counter() - started < SERVE_TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"ragqa serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        ready_s = time.perf_counter() - started
                        if log is not None and phases is not None:
                            lines = [line for line in log.lines if line[0] <= ready_s]
                            phases.extend([*lines, (round(ready_s, 2), "-- /readyz 200")])
                        return ready_s
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ragqa serve was not ready within {SERVE_TIMEOUT_S:.0f}s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_index(data_dir: Path) -> None:
    subprocess.run(
        _cli("ingest", str(REPO_ROOT / "seeds")),
        cwd=REPO_ROOT,
        env=_env(REPO_ROOT, data_dir),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="an existing index (default: seeds/ ingested into a temp dir)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--baseline-ref", help="also time this git commit's code, alternating with the tree's")
    parser.add_argument("--no-serve", action="store_true", help="skip the ragqa serve measurement")
    parser.add_argument(
        "--ask-total", action="store_true", help="let ask finish and time it (else it is stopped after its first line)"
    )
    parser.add_argument(
        "--phases", action="store_true", help="run ask and serve with -v and keep their log lines with timestamps"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ragqa-cold-") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            print(f"indexing {REPO_ROOT / 'seeds'} into {data_dir} …", flush=True)
            build_index(data_dir)
        codes: dict[str, Path] = {"new": REPO_ROOT}
        if args.baseline_ref:
            codes = {"old": export_ref(args.baseline_ref, Path(tmp) / "old"), "new": REPO_ROOT}
        rows: dict[str, dict[str, list[float]]] = {
            name: {"search_s": [], "ask_first_s": [], "ask_total_s": [], "serve_ready_s": []} for name in codes
        }
        first_line = ""
        timelines: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
        for round_no in range(args.repeat):
            for name, root in codes.items():
                r = rows[name]
                r["search_s"].append(time_search(root, data_dir, args.question))
                ask_log: list[tuple[float, str]] | None = [] if args.phases else None
                first_s, total_s, first_line = time_ask(root, data_dir, args.question, args.ask_total, ask_log)
                r["ask_first_s"].append(first_s)
                r["ask_total_s"].append(total_s)
                serve_log: list[tuple[float, str]] | None = [] if args.phases else None
                if not args.no_serve:
                    r["serve_ready_s"].append(time_serve(root, data_dir, serve_log))
                if args.phases:
                    timelines[name].append({"round": round_no + 1, "ask": ask_log, "serve": serve_log})
                print(f"round {round_no + 1} {name}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in r.items() if v))
        shutil.rmtree(Path(tmp) / "old", ignore_errors=True)

    for name, rounds in timelines.items():
        if rounds:
            for command in ("ask", "serve"):
                print(f"\n{name} code, ragqa {command} -v, round {rounds[-1]['round']} (seconds since start):")
                for t, line in rounds[-1][command] or []:
                    print(f"  {t:7.2f}  {line[:150]}")
    print(f"\nquestion: {args.question!r}\nfirst line of the answer: {first_line!r}\n")
    print(f"{'code':<5} {'search':>8} {'ask first':>10} {'ask total':>10} {'first/search':>13} {'serve ready':>12}")
    summary: dict[str, Any] = {"question": args.question, "repeat": args.repeat, "codes": {}}
    if args.phases:
        summary["timelines"] = timelines
    for name, r in rows.items():
        med = {k: statistics.median(v) if v else float("nan") for k, v in r.items()}
        ratio = med["ask_first_s"] / med["search_s"]
        print(
            f"{name:<5} {med['search_s']:>7.2f}s {med['ask_first_s']:>9.2f}s {med['ask_total_s']:>9.2f}s"
            f" {ratio:>12.2f}× {med['serve_ready_s']:>11.2f}s"
        )
        summary["codes"][name] = {"median": med, "runs": r, "first_over_search": ratio}
    print("(medians over the rounds)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
