"""Loading documents into normalised plain text with a title, an optional date, metadata and page offsets.

One module per format — ``txt``, ``markdown``, ``html``, ``pdf`` (with OCR for pages without a text layer),
``docx``, ``pptx``, ``epub``, ``csv`` and ``image`` (png/jpg through OCR) — each turning bytes or text into an
``Extracted``; this module picks the loader by file suffix and checks what every format shares (size, empty
input, metadata). Every problem with the input raises ``BadInputError`` with a one-line message for a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath

from rag.budget import active_budget
from rag.documents import csv as csv_loader
from rag.documents import docx as docx_loader
from rag.documents import epub as epub_loader
from rag.documents import html as html_loader
from rag.documents import image as image_loader
from rag.documents import markdown as markdown_loader
from rag.documents import pdf as pdf_loader
from rag.documents import pptx as pptx_loader
from rag.documents import txt as txt_loader
from rag.documents.base import (
    MAX_TEXT_CHARS,
    Extracted,
    LoadedDocument,
    clean_title,
    control_ratio,
    decode,
    first_line,
    one_line,
)
from rag.documents.pdf import MAX_PDF_PAGES
from rag.errors import BadInputError

__all__ = [
    "MAX_META_VALUE_CHARS",
    "MAX_PDF_PAGES",
    "MAX_TEXT_CHARS",
    "META_KEY_RE",
    "SUPPORTED_SUFFIXES",
    "LoadedDocument",
    "check_meta",
    "discover",
    "load_bytes",
    "load_path",
    "load_text",
]

_TEXT_LOADERS: dict[str, Callable[[str], Extracted]] = {
    txt_loader.FORMAT: txt_loader.from_text,
    markdown_loader.FORMAT: markdown_loader.from_text,
    html_loader.FORMAT: html_loader.from_text,
    csv_loader.FORMAT: csv_loader.from_text,
}
_BINARY_LOADERS: dict[str, Callable[[bytes], Extracted]] = {
    pdf_loader.FORMAT: pdf_loader.from_bytes,
    docx_loader.FORMAT: docx_loader.from_bytes,
    pptx_loader.FORMAT: pptx_loader.from_bytes,
    epub_loader.FORMAT: epub_loader.from_bytes,
    image_loader.FORMAT: image_loader.from_bytes,
}
_FORMAT_BY_SUFFIX = {
    suffix: module.FORMAT
    for module in (
        txt_loader,
        markdown_loader,
        html_loader,
        pdf_loader,
        docx_loader,
        pptx_loader,
        epub_loader,
        csv_loader,
        image_loader,
    )
    for suffix in module.SUFFIXES
}
SUPPORTED_SUFFIXES = tuple(_FORMAT_BY_SUFFIX)
_TEXT_FORMATS = {"txt": "txt", "md": "md", "markdown": "md", "html": "html", "htm": "html", "csv": "csv"}
# Formats whose first line makes a poor title: the file name is used instead.
_NAME_TITLED = frozenset({csv_loader.FORMAT, image_loader.FORMAT})

MAX_META_FIELDS = 50
MAX_META_VALUE_CHARS = 500
META_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def check_meta(meta: Mapping[str, object]) -> dict[str, str]:
    """User metadata as ``{key: value}`` strings; ``BadInputError`` on a bad key, a long value or too many."""
    if len(meta) > MAX_META_FIELDS:
        raise BadInputError(f"too many metadata fields ({len(meta)} > {MAX_META_FIELDS})")
    out: dict[str, str] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not META_KEY_RE.fullmatch(key):
            raise BadInputError(
                f"bad metadata key {key!r}: a letter, then letters, digits, '_', '.' or '-' (at most 64)"
            )
        text = str(value)
        if len(text) > MAX_META_VALUE_CHARS or any(not ch.isprintable() for ch in text):
            raise BadInputError(f"bad metadata value for {key!r}: printable text of at most {MAX_META_VALUE_CHARS}")
        out[key] = text
    return out


def _unsupported(suffix: str) -> BadInputError:
    what = f"'{suffix}'" if suffix else "(no file extension)"
    return BadInputError(f"unsupported file type {what} (supported: {', '.join(SUPPORTED_SUFFIXES)})")


def _suffix(name: str) -> str:
    return PurePath(name.replace("\\", "/")).suffix.lower()


def _check_size(n_bytes: int) -> None:
    """The one size limit of a document file: ``max_document_bytes`` of the active ingest budget."""
    active_budget().check_bytes(n_bytes)


def _build(
    source: str, found: Extracted, meta: dict[str, str], title: str | None = None, name: str = ""
) -> LoadedDocument:
    if not found.text.strip():
        raise BadInputError("no text after extraction")
    fallback = PurePath(name).stem if name and meta.get("format") in _NAME_TITLED else ""
    chosen = title if title is not None and title.strip() else (found.title or fallback or first_line(found.text))
    return LoadedDocument(
        source=source,
        title=clean_title(chosen),
        text=found.text,
        date=found.date,
        meta={**found.meta, **meta},
        page_starts=found.page_starts,
    )


def load_bytes(
    data: bytes, *, source: str, filename: str | None = None, meta: Mapping[str, str] | None = None
) -> LoadedDocument:
    """Load an uploaded or read file; the format comes from the suffix of ``filename`` (or ``source``).
    ``meta`` (user metadata) is merged over what the file itself says (e.g. Markdown front matter)."""
    name = filename or source
    suffix = _suffix(name)
    fmt = _FORMAT_BY_SUFFIX.get(suffix)
    if fmt is None:
        raise _unsupported(suffix)
    if not data:
        raise BadInputError("empty file")
    _check_size(len(data))
    basename = PurePath(name.replace("\\", "/")).name
    system = {"format": fmt, "filename": basename}
    binary = _BINARY_LOADERS.get(fmt)
    found = binary(data) if binary is not None else _TEXT_LOADERS[fmt](decode(data, fmt))
    return _build(source, found, {**check_meta(meta or {}), **system}, name=basename)


def load_path(path: Path, source: str, *, meta: Mapping[str, str] | None = None) -> LoadedDocument:
    """Read and load one file from disk."""
    try:
        if not path.is_file():
            raise BadInputError("no such file")
        _check_size(path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read file: {exc.strerror or one_line(exc)}") from None
    return load_bytes(data, source=source, filename=path.name, meta=meta)


def load_text(
    text: str,
    *,
    source: str,
    title: str | None = None,
    fmt: str = "txt",
    meta: Mapping[str, str] | None = None,
) -> LoadedDocument:
    """Load text sent directly (e.g. in a JSON body); ``fmt`` is ``txt``, ``md``, ``html`` or ``csv``."""
    kind = _TEXT_FORMATS.get(fmt.lower().lstrip("."))
    if kind is None:
        raise BadInputError(f"unsupported format '{fmt}' (supported: txt, md, html, csv)")
    if not text:
        raise BadInputError("empty text")
    _check_size(len(text.encode("utf-8", errors="replace")))
    if "\x00" in text or control_ratio(text) > 0.1:
        raise BadInputError("binary data, not text")
    found = _TEXT_LOADERS[kind](text)
    return _build(source, found, {**check_meta(meta or {}), "format": kind}, title=title)


def _walk(folder: Path, failures: list[tuple[str, str]]) -> Iterator[Path]:
    def on_error(exc: OSError) -> None:
        failures.append((str(exc.filename or folder), f"cannot read directory: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(SUPPORTED_SUFFIXES):
                yield Path(dirpath) / name


def discover(paths: Sequence[Path]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Expand files and folders into ``(path, source)`` pairs to load, and ``(path, reason)`` failures.

    Folders are searched recursively in sorted order, skipping hidden files and folders and files of
    unsupported types; their files get ``source`` = the path relative to the folder (posix form). A file
    given directly gets its file name as source, and is a failure if its type is unsupported. Two different
    files that would get the same source (``a/index.html`` and ``b/index.html`` given directly) are not both
    loaded: the second would replace the first; it is a failure that says so.
    """
    found: list[tuple[Path, str]] = []
    failures: list[tuple[str, str]] = []
    seen: set[Path] = set()
    sources: dict[str, Path] = {}

    def add(path: Path, source: str) -> None:
        key = path.resolve()
        if key in seen:
            return
        seen.add(key)
        if source in sources:
            failures.append(
                (
                    str(path),
                    f"its source name {source!r} is already taken by {sources[source]} in this run, which it would "
                    "replace (a file given directly is named by its file name: give their folder to name them by "
                    "their paths in it)",
                )
            )
            return
        sources[source] = path
        found.append((path, source))

    for path in paths:
        if path.is_dir():
            in_folder = [(p, p.relative_to(path).as_posix()) for p in _walk(path, failures)]
            for file_path, source in sorted(in_folder, key=lambda item: item[1]):
                if file_path.is_file():
                    add(file_path, source)
        elif path.is_file():
            suffix = _suffix(path.name)
            if suffix in _FORMAT_BY_SUFFIX:
                add(path, path.name)
            else:
                failures.append((str(path), str(_unsupported(suffix))))
        elif path.exists() or path.is_symlink():
            failures.append((str(path), "not a regular file" if path.exists() else "broken link"))
        else:
            failures.append((str(path), "no such file or directory"))
    return found, failures
