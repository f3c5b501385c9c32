"""PDF: the text layer of every page (layout line breaks inside sentences joined), pages without one read by
OCR from their images (``rag.documents.ocr``); title and date from the document info. Pages are kept:
``page_starts`` gives where each page begins in the text."""

from __future__ import annotations

import io
import logging
import re

from PIL.Image import Image
from pypdf import PdfReader

from rag.budget import extract_pdf_page
from rag.documents import ocr
from rag.documents.base import Extracted, TextBudget, iso_date, join_pages, one_line
from rag.errors import BadInputError, WorkCancelled

log = logging.getLogger(__name__)

FORMAT = "pdf"
SUFFIXES = (".pdf",)
MAX_PDF_PAGES = 2000
MAX_OCR_PAGES = 300
MAX_IMAGES_PER_PAGE = 20

_PDF_DATE_RE = re.compile(r"^(?:D:)?(\d{4})(\d{2})(\d{2})")
_LINE_END_RE = re.compile(r"[.!?:;\"”’)\]]$")


def reflow_page(text: str) -> str:
    """Join layout line breaks inside sentences: a line continues when the next one starts in lowercase."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if out and out[-1] and stripped and stripped[0].islower() and not _LINE_END_RE.search(out[-1]):
            out[-1] = out[-1] + " " + stripped
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def _pdf_date(value: object) -> str | None:
    m = _PDF_DATE_RE.match(str(value or "").strip())
    if not m:
        return None
    return iso_date(f"{m[1]}-{m[2]}-{m[3]}")


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many kinds of errors on broken input
        raise BadInputError(f"cannot read PDF: {one_line(exc)}") from None
    if encrypted:
        try:
            ok = bool(reader.decrypt(""))
        except Exception as exc:
            log.info("PDF decryption failed: %s", one_line(exc))
            ok = False
        if not ok:
            raise BadInputError("encrypted PDF")
    return reader


def _page_ocr(reader: PdfReader, number: int) -> str:
    """The text tesseract reads in the images of one page ('' if it has none)."""
    from rag.documents.image import open_image

    try:
        images = list(reader.pages[number].images)[:MAX_IMAGES_PER_PAGE]
    except Exception as exc:
        log.warning("cannot list the images of PDF page %d: %s", number + 1, one_line(exc))
        return ""
    texts: list[str] = []
    for found in images:
        try:
            data = found.data
        except Exception as exc:
            log.warning("skipping an unreadable image on PDF page %d: %s", number + 1, one_line(exc))
            continue
        image: Image | None
        try:
            image = open_image(data)
        except BadInputError as exc:
            try:
                image = found.image  # pypdf decodes raw image streams that PIL cannot open directly
            except Exception:
                log.warning("skipping an image on PDF page %d: %s", number + 1, exc)
                continue
        if image is not None:
            texts.append(ocr.image_text(image))
    return "\n\n".join(texts)


def from_bytes(data: bytes) -> Extracted:
    """The text of a .pdf file (see the module docstring); ``BadInputError`` for an unreadable one."""
    reader = _open(data)
    try:
        n_pages = len(reader.pages)
    except Exception as exc:
        raise BadInputError(f"cannot read PDF: {one_line(exc)}") from None
    if n_pages > MAX_PDF_PAGES:
        raise BadInputError("PDF has too many pages")

    budget = TextBudget()
    pages: list[str] = []
    blank: list[int] = []
    for number in range(n_pages):
        try:
            page_text = extract_pdf_page(reader.pages[number])
        except (BadInputError, WorkCancelled):
            raise
        except Exception as exc:
            log.warning("skipping unreadable PDF page %d: %s", number + 1, one_line(exc))
            page_text = ""
        pages.append(reflow_page(budget.take(page_text)))
        if not page_text.strip():
            blank.append(number)

    ocr_pages = 0
    if blank:
        with_images = [n for n in blank if _has_images(reader, n)]
        if len(with_images) > MAX_OCR_PAGES:
            raise BadInputError(f"PDF needs OCR on too many pages ({len(with_images)} > {MAX_OCR_PAGES})")
        for number in with_images:
            pages[number] = budget.take(_page_ocr(reader, number))
            ocr_pages += 1
    text, starts = join_pages(pages)
    if not text:
        if ocr_pages:
            raise BadInputError("PDF has no extractable text (OCR read nothing)")
        raise BadInputError("PDF has no extractable text (scanned?)")

    title = ""
    date: str | None = None
    try:
        info = reader.metadata
        if info is not None:
            title = str(info.title or "").strip()
            date = _pdf_date(info.creation_date_raw)
    except Exception as exc:
        log.info("ignoring unreadable PDF metadata: %s", one_line(exc))
    meta = {"pages": str(n_pages)}
    if ocr_pages:
        meta["ocr"] = "tesseract"
        meta["ocr_pages"] = str(ocr_pages)
    return Extracted(text, title, date, meta=meta, page_starts=starts)


def _has_images(reader: PdfReader, number: int) -> bool:
    try:
        resources = reader.pages[number].get("/Resources")
        if resources is None:
            return False
        xobjects = resources.get_object().get("/XObject")
        if xobjects is None:
            return False
        return any(
            xobjects.get_object()[name].get_object().get("/Subtype") == "/Image" for name in xobjects.get_object()
        )
    except Exception as exc:
        log.info("cannot inspect the resources of PDF page %d: %s", number + 1, one_line(exc))
        return False
