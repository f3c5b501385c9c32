"""E-books (``.epub``, via ``ebooklib``): the visible text of every document of the spine, in reading order;
the title and date from the package metadata."""

from __future__ import annotations

import io
import logging
import warnings

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from rag.documents.base import Extracted, TextBudget, iso_date, normalise, one_line
from rag.documents.html import html_lines
from rag.documents.zipguard import check_zip
from rag.errors import BadInputError

log = logging.getLogger(__name__)

FORMAT = "epub"
SUFFIXES = (".epub",)
MAX_CHAPTERS = 5000


def from_bytes(data: bytes) -> Extracted:
    """The text of a .epub file (see the module docstring); ``BadInputError`` for an unreadable one."""
    check_zip(data, "epub file")
    try:
        import ebooklib
        from ebooklib import epub
    except ImportError:
        raise BadInputError("epub support needs ebooklib: pip install 'ebooklib'") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises many kinds of errors on broken books
        raise BadInputError(f"cannot read epub: {one_line(exc)}") from None

    budget = TextBudget()
    chapters: list[str] = []
    try:
        order = [book.get_item_with_id(idref) for idref, _ in book.spine]
        items = [i for i in order if i is not None and i.get_type() == ebooklib.ITEM_DOCUMENT]
        if not items:
            items = list(book.get_items_of_type(ebooklib.ITEM_DOCUMENT))
        if len(items) > MAX_CHAPTERS:
            raise BadInputError(f"epub has too many chapters ({len(items)} > {MAX_CHAPTERS})")
        for item in items:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
                soup = BeautifulSoup(item.get_content(), "lxml")
            for tag in soup.find_all(["script", "style", "head"]):
                tag.decompose()
            root = soup.body or soup
            chapters.append(budget.take("\n".join(html_lines(root))))
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(f"cannot read epub: {one_line(exc)}") from None

    def first(name: str) -> str:
        values = book.get_metadata("DC", name)
        return str(values[0][0]).strip() if values and values[0] and values[0][0] else ""

    text = normalise("\n\n".join(c for c in chapters if c.strip()))
    return Extracted(text, first("title"), iso_date(first("date")))
