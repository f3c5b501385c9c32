"""PowerPoint (``.pptx``, via ``python-pptx``): the text of every slide (text frames and tables, then the
speaker notes), one page per slide: ``page_starts`` gives where each slide begins in the text."""

from __future__ import annotations

import io
import logging
from typing import Any

from rag.documents.base import Extracted, TextBudget, iso_date, join_pages, one_line
from rag.documents.zipguard import check_zip
from rag.errors import BadInputError

log = logging.getLogger(__name__)

FORMAT = "pptx"
SUFFIXES = (".pptx",)
MAX_SLIDES = 2000
MAX_SHAPES_PER_SLIDE = 5000


def _shape_lines(shape: Any, budget: TextBudget, depth: int = 0) -> list[str]:
    lines: list[str] = []
    if depth > 20:
        return lines
    if getattr(shape, "shape_type", None) == 6 and hasattr(shape, "shapes"):  # MSO_SHAPE_TYPE.GROUP
        for inner in list(shape.shapes)[:MAX_SHAPES_PER_SLIDE]:
            lines.extend(_shape_lines(inner, budget, depth + 1))
        return lines
    if getattr(shape, "has_text_frame", False):
        for paragraph in shape.text_frame.paragraphs:
            lines.append(budget.take("".join(run.text for run in paragraph.runs)))
    elif getattr(shape, "has_table", False):
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            lines.append(budget.take(" | ".join(c for c in cells if c)))
    return lines


def from_bytes(data: bytes) -> Extracted:
    """The text of a .pptx file (see the module docstring); ``BadInputError`` for an unreadable one."""
    check_zip(data, "pptx file")
    try:
        from pptx import Presentation
    except ImportError:
        raise BadInputError("pptx support needs python-pptx: pip install 'python-pptx'") from None
    try:
        presentation = Presentation(io.BytesIO(data))
        slides = presentation.slides
        n_slides = len(slides)
    except Exception as exc:
        raise BadInputError(f"cannot read pptx: {one_line(exc)}") from None
    if n_slides > MAX_SLIDES:
        raise BadInputError(f"pptx has too many slides ({n_slides} > {MAX_SLIDES})")

    budget = TextBudget()
    pages: list[str] = []
    first_title = ""
    try:
        for slide in slides:
            shapes = list(slide.shapes)
            if len(shapes) > MAX_SHAPES_PER_SLIDE:
                raise BadInputError(f"a slide has too many shapes ({len(shapes)} > {MAX_SHAPES_PER_SLIDE})")
            title_shape = slide.shapes.title
            if not first_title and title_shape is not None and title_shape.has_text_frame:
                first_title = " ".join(title_shape.text_frame.text.split())
            lines: list[str] = []
            for shape in shapes:
                lines.extend(_shape_lines(shape, budget))
                lines.append("")
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                lines.append(budget.take(slide.notes_slide.notes_text_frame.text))
            pages.append("\n".join(lines))
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"cannot read pptx: {one_line(exc)}") from None

    text, starts = join_pages(pages)
    props = presentation.core_properties
    title = (props.title or "").strip() or first_title
    date = iso_date(props.created.date().isoformat()) if props.created else None
    return Extracted(text, title, date, meta={"pages": str(n_slides)}, page_starts=starts)
