"""Word documents (``.docx``, via ``python-docx``): paragraphs and tables in document order, a table row per
line (cells separated by `` | ``); the title from the document properties or the first heading."""

from __future__ import annotations

import io
import logging

from rag.documents.base import Extracted, TextBudget, iso_date, normalise, one_line
from rag.documents.zipguard import check_zip
from rag.errors import BadInputError

log = logging.getLogger(__name__)

FORMAT = "docx"
SUFFIXES = (".docx",)
MAX_BLOCKS = 200_000


def from_bytes(data: bytes) -> Extracted:
    """The text of a .docx file (see the module docstring); ``BadInputError`` for an unreadable one."""
    check_zip(data, "docx file")
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError:
        raise BadInputError("docx support needs python-docx: pip install 'python-docx'") from None
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds on broken packages
        raise BadInputError(f"cannot read docx: {one_line(exc)}") from None

    budget = TextBudget()
    lines: list[str] = []
    heading = ""
    try:
        for n, block in enumerate(document.iter_inner_content()):
            if n >= MAX_BLOCKS:
                raise BadInputError("docx has too many paragraphs")
            if isinstance(block, Paragraph):
                text = budget.take(block.text)
                style = (block.style.name if block.style is not None else "") or ""
                if not heading and text.strip() and (style.startswith("Heading") or style == "Title"):
                    heading = text.strip()
                lines.append(text)
                lines.append("")
            elif isinstance(block, Table):
                for row in block.rows:
                    cells = [" ".join(c.text.split()) for c in row.cells]
                    lines.append(budget.take(" | ".join(dict.fromkeys(c for c in cells if c))))
                lines.append("")
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"cannot read docx: {one_line(exc)}") from None

    props = document.core_properties
    title = (props.title or "").strip() or heading
    date = iso_date(props.created.date().isoformat()) if props.created else None
    return Extracted(normalise("\n".join(lines)), title, date)
