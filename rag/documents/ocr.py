"""Optical character recognition with Debian's ``tesseract-ocr`` (+ ``tesseract-ocr-eng``) through ``pytesseract``.

``make install`` installs both (as root). Without them every OCR path fails with one clear message naming what
to install; nothing else is affected.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rag.documents.base import one_line
from rag.errors import BadInputError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

LANGUAGE = "eng"
TIMEOUT_S = 120
MAX_PIXELS = 60_000_000
MISSING = (
    "OCR needs tesseract, which is not installed: run `apt-get install tesseract-ocr tesseract-ocr-eng` "
    "(as root; `make install` does it) and `pip install pytesseract`"
)


def available() -> bool:
    """True when pytesseract imports and the tesseract binary runs."""
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
    except Exception:
        return False
    return True


def image_text(image: Image) -> str:
    """The text tesseract reads in ``image``; ``BadInputError`` when tesseract is missing or fails."""
    try:
        import pytesseract
    except ImportError:
        raise BadInputError(MISSING) from None
    if image.width * image.height > MAX_PIXELS:
        raise BadInputError(f"image too large for OCR ({image.width}x{image.height} pixels)")
    if image.mode not in ("1", "L", "RGB"):
        image = image.convert("RGB")
    try:
        text = pytesseract.image_to_string(image, lang=LANGUAGE, timeout=TIMEOUT_S)
    except pytesseract.TesseractNotFoundError:
        raise BadInputError(MISSING) from None
    except RuntimeError as exc:  # pytesseract's timeout
        raise BadInputError(f"OCR failed: {one_line(exc)}") from None
    except pytesseract.TesseractError as exc:
        message = one_line(exc)
        if "Failed loading language" in message or "Error opening data file" in message:
            raise BadInputError(MISSING) from None
        raise BadInputError(f"OCR failed: {message}") from None
    log.debug("OCR read %d characters from a %dx%d image", len(text), image.width, image.height)
    return str(text)
