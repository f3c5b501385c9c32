"""Give every question of an evaluation set a ``split``: half ``tune`` (thresholds may be chosen on it), half
``test`` (never tuned on), stratified by answerable/kind and decided by a hash of the id, so it is reproducible
and does not depend on how well ragqa does. Run once per new set: ``python eval/assign_splits.py eval/sets/*``."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path


def assign(path: Path) -> dict[str, int]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[tuple[bool, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        groups[(bool(row.get("answerable", True)), str(row.get("kind", "")))].append(row)
    for members in groups.values():
        members.sort(key=lambda r: hashlib.sha256(str(r["id"]).encode()).hexdigest())
        for i, row in enumerate(members):
            row.setdefault("split", "tune" if i % 2 == 0 else "test")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[str(row["split"])] += 1
    return dict(counts)


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(folder, assign(Path(folder) / "questions.jsonl"))
