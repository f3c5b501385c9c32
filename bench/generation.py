"""Generation speed of the answer model: dynamic int8 vs fp32, and the effect of the evidence budget.

    .venv/bin/python bench/generation.py [--repeats 3] [--json OUT]

For each setting it builds the real answer prompt for the dev-set questions below from the seed article's
evidence (selected as `ragqa ask` does), then measures prefill (time to the first new token) and decode
(ms per token over up to 48 tokens). Prints a table; compare ratios within one run (shared, noisy machines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rag.answer import _evidence_block
from rag.engine import Engine
from rag.evidence import select_evidence
from rag.ingest import ingest_paths
from rag.models.generator import TransformersGenerator
from rag.models.resolve import resolve
from rag.prompts import render
from rag.retrieval import retrieve
from rag.settings import get_settings

QUESTIONS = [
    "Why is Seoul reconsidering arms to Ukraine?",
    "Which North Korean weapons programmes worry South Korea?",
    "How has South Korea approached the war in Ukraine up to now?",
    "What would sending weapons to Kyiv signal about South Korea's alignment?",
]
BUDGETS = (60, 110, 160)  # evidence_max_words


def measure(gen: TransformersGenerator, messages: list, max_tokens: int = 48) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    first = None
    n = 0
    for _ in gen.stream(messages, max_new_tokens=max_tokens):
        n += 1
        if first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    first = first if first is not None else total
    decode_ms = (total - first) / max(n - 1, 1) * 1000
    return first, decode_ms, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    base = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.model_copy(update={"data_dir": Path(tmp)})
        engine = Engine.load(settings)
        ingest_paths(engine, [Path(__file__).resolve().parent.parent / "seeds"], progress=False)
        prompts: dict[int, list] = {b: [] for b in BUDGETS}
        for q in QUESTIONS:
            passages = retrieve(engine, q, settings.answer_passages).passages
            for budget in BUDGETS:
                ev = select_evidence(
                    engine.reranker, q, passages, max_sentences=8, max_words=budget, title_context=True
                )
                prompts[budget].append(render("answer", evidence=_evidence_block(ev), question=q))
        resolved = resolve(settings.generator, "generator", settings.models_dir)
        rows = []
        for int8 in (False, True):
            t0 = time.perf_counter()
            gen = TransformersGenerator(resolved, quantize_int8=int8, threads=settings.torch_threads)
            load_s = time.perf_counter() - t0
            measure(gen, prompts[BUDGETS[0]][0], 4)  # warm-up
            for budget in BUDGETS:
                firsts, decodes, tokens = [], [], []
                for _ in range(args.repeats):
                    for messages in prompts[budget]:
                        f, d, _ = measure(gen, messages)
                        firsts.append(f)
                        decodes.append(d)
                        tokens.append(gen.count_tokens(gen.render(messages)))
                rows.append(
                    {
                        "int8": int8,
                        "evidence_max_words": budget,
                        "prompt_tokens": round(statistics.mean(tokens)),
                        "prefill_s_p50": round(statistics.median(firsts), 3),
                        "decode_ms_per_token_p50": round(statistics.median(decodes), 1),
                        "load_s": round(load_s, 1),
                    }
                )
            del gen
        engine.close()
    print(f"{'int8':>5} {'budget':>6} {'prompt tok':>10} {'prefill s':>9} {'decode ms/tok':>13} {'load s':>6}")
    for r in rows:
        print(
            f"{r['int8']!s:>5} {r['evidence_max_words']:>6} {r['prompt_tokens']:>10} {r['prefill_s_p50']:>9}"
            f" {r['decode_ms_per_token_p50']:>13} {r['load_s']:>6}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
