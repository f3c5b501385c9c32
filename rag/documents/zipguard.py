"""Checks on the zip container of docx, pptx and epub files before a library unpacks it (zip bombs).

The declared sizes in the zip directory bound what ``zipfile`` will ever inflate (it stops at the declared
size and fails the CRC check on a lie), so checking them before opening is enough.
"""

from __future__ import annotations

import io
import zipfile

from rag.documents.base import one_line
from rag.errors import BadInputError

MAX_ENTRIES = 5000
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_ENTRY_BYTES = 100 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, for entries over 1 MB


def check_zip(data: bytes, what: str) -> None:
    """``BadInputError`` if ``data`` is not a readable zip or would inflate to too much."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise BadInputError(f"cannot read {what}: not a valid zip container ({one_line(exc)})") from None
    if len(infos) > MAX_ENTRIES:
        raise BadInputError(f"{what} has too many parts ({len(infos)} > {MAX_ENTRIES})")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > MAX_ENTRY_BYTES or total > MAX_TOTAL_BYTES:
            raise BadInputError(f"{what} inflates to too much data (zip bomb?)")
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise BadInputError(f"{what} is compressed suspiciously well ({info.filename!r}; zip bomb?)")
