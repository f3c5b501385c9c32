"""Images (``.png``, ``.jpg``, ``.jpeg``): the text tesseract reads in them (see ``rag.documents.ocr``)."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from rag.documents import ocr
from rag.documents.base import Extracted, normalise, one_line
from rag.errors import BadInputError

FORMAT = "image"
SUFFIXES = (".png", ".jpg", ".jpeg")


def open_image(data: bytes) -> Image.Image:
    """A fully decoded image; ``BadInputError`` on broken data or a decompression bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > ocr.MAX_PIXELS:
                raise BadInputError(f"image too large for OCR ({image.width}x{image.height} pixels)")
            image.load()
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadInputError("image too large (decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInputError(f"cannot read image: {one_line(exc)}") from None
    return image


def from_bytes(data: bytes) -> Extracted:
    text = normalise(ocr.image_text(open_image(data)))
    if not text:
        raise BadInputError("no text found in the image (OCR read nothing)")
    return Extracted(text, meta={"ocr": "tesseract"})
