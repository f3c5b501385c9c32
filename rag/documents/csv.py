"""CSV (``.csv``): one line per row, each cell led by its column header (``Header: value | …``) so that every
row — and every chunk, which is a group of whole rows (``rag.text.chunk_lines``) — keeps the header with it."""

from __future__ import annotations

import csv
import io

from rag.documents.base import Extracted, TextBudget, normalise
from rag.errors import BadInputError

FORMAT = "csv"
SUFFIXES = (".csv",)
MAX_ROWS = 200_000
MAX_COLUMNS = 500


def _cell(value: str) -> str:
    return " ".join(value.split())


def from_text(raw: str) -> Extracted:
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(raw[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(raw), dialect)
    budget = TextBudget()
    lines: list[str] = []
    try:
        header = [_cell(h) for h in next(reader, [])]
        if len(header) > MAX_COLUMNS:
            raise BadInputError(f"CSV has too many columns ({len(header)} > {MAX_COLUMNS})")
        if not any(header):
            raise BadInputError("CSV has no header row")
        header = [h or f"column {i + 1}" for i, h in enumerate(header)]
        for n, row in enumerate(reader):
            if n >= MAX_ROWS:
                raise BadInputError(f"CSV has too many rows (> {MAX_ROWS})")
            cells = [_cell(v) for v in row]
            names = header + [f"column {i + 1}" for i in range(len(header), len(cells))]
            parts = [f"{name}: {value}" for name, value in zip(names, cells, strict=False) if value]
            if parts:
                lines.append(budget.take(" | ".join(parts)))
    except csv.Error as exc:
        raise BadInputError(f"cannot read CSV: {exc}") from None
    if not lines:
        raise BadInputError("CSV has no data rows")
    return Extracted(normalise("\n".join(lines)), meta={"rows": str(len(lines)), "columns": str(len(header))})
