"""Loading documents (txt, md, html, pdf) into normalised plain text with a title and an optional date.

The stored text is kept verbatim apart from a light normalisation (line endings, trailing spaces, runs of
blank lines, surrounding whitespace, Unicode NFC): quotes, dashes and wording are never changed, because
answers are checked against exact substrings of it. Every problem with the input raises ``BadInputError``
with a one-line message meant for a person.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from bs4 import BeautifulSoup, CData, NavigableString, Tag
from pypdf import PdfReader

from rag.budget import WorkCancelled, extract_pdf_page
from rag.errors import BadInputError

__all__ = [
    "MAX_BYTES",
    "MAX_PDF_PAGES",
    "MAX_TEXT_CHARS",
    "SUPPORTED_SUFFIXES",
    "LoadedDocument",
    "discover",
    "load_bytes",
    "load_path",
    "load_text",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000

_FORMAT_BY_SUFFIX = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_TEXT_FORMATS = {"txt": "txt", "md": "md", "markdown": "md", "html": "html", "htm": "html"}
_MAX_TITLE_CHARS = 300


@dataclass(frozen=True)
class LoadedDocument:
    source: str
    title: str
    text: str
    date: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- helpers


def _unsupported(suffix: str) -> BadInputError:
    what = f"'{suffix}'" if suffix else "(no file extension)"
    return BadInputError(f"unsupported file type {what} (supported: {', '.join(SUPPORTED_SUFFIXES)})")


def _suffix(name: str) -> str:
    return PurePath(name.replace("\\", "/")).suffix.lower()


def _check_size(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise BadInputError(f"file too large ({n_bytes / 1024 / 1024:.1f} MB > {MAX_BYTES // 1024 // 1024} MB)")


_BLANK_LINES_RE = re.compile(r"\n{3,}")
_TRAILING_SPACE_RE = re.compile(r"[^\S\n]+$", re.MULTILINE)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE_RE.sub("", text)
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return unicodedata.normalize("NFC", text.strip())


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) > _MAX_TITLE_CHARS:
        cut = title[:_MAX_TITLE_CHARS].rsplit(" ", 1)[0] or title[:_MAX_TITLE_CHARS]
        title = cut + "…"
    return unicodedata.normalize("NFC", title)


_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _iso_date(value: str | None) -> str | None:
    """``yyyy-mm-dd`` if ``value`` starts with a valid ISO date, else None."""
    if not value:
        return None
    m = _ISO_DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def _control_ratio(text: str) -> float:
    sample = text[:65536]
    if not sample:
        return 0.0
    bad = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f\v\b\x1b"))
    return bad / len(sample)


_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _decode(data: bytes, fmt: str) -> str:
    """Decode text: UTF-8 (BOM optional), UTF-16 with a BOM, or for HTML a declared ``<meta charset>``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise BadInputError("not valid UTF-16 text") from None
    if b"\x00" in data:
        raise BadInputError("binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
        if fmt == "html":
            declared = _CHARSET_RE.search(data[:4096])
            if declared:
                try:
                    text = data.decode(declared.group(1).decode("ascii"))
                except (LookupError, UnicodeDecodeError):
                    text = ""
        if not text:
            if _control_ratio(data.decode("utf-8", errors="replace")) > 0.3:
                raise BadInputError("binary file, not text") from None
            raise BadInputError("not valid UTF-8 text") from None
    if _control_ratio(text) > 0.1:
        raise BadInputError("binary file, not text")
    return text


# ----------------------------------------------------------------------------------------------- txt


def _from_txt(text: str) -> tuple[str, str, str | None]:
    text = _normalise(text)
    return text, _first_line(text), None


# ---------------------------------------------------------------------------------------------- markdown

_FRONT_MATTER_RE = re.compile(r"\A---[^\S\n]*\n(.*?)\n(?:---|\.\.\.)[^\S\n]*(?:\n|\Z)", re.DOTALL)
_FM_FIELD_RE = re.compile(r"^(date|title)\s*:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
_FENCE_RE = re.compile(r"^[^\S\n]{0,3}(```+|~~~+)")
_ATX_RE = re.compile(r"^[^\S\n]{0,3}#{1,6}(?:[^\S\n]+(.*?))?(?:[^\S\n]+#+)?[^\S\n]*$")
_SETEXT_RE = re.compile(r"^[^\S\n]{0,3}(?:=+|-+)[^\S\n]*$")
_HR_RE = re.compile(r"^[^\S\n]{0,3}([-*_])(?:[^\S\n]*\1){2,}[^\S\n]*$")
_LIST_MARKER_RE = re.compile(r"^(\s*(?:[-*+]|\d{1,9}[.)])[^\S\n]+)")
_BLOCKQUOTE_RE = re.compile(r"^[^\S\n]{0,3}>[^\S\n]?")
_REF_DEF_RE = re.compile(r"^[^\S\n]{0,3}\[[^\]]+\]:\s+\S")
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|])")
_INLINE_SUBS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[^\S\n]*!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"[^\S\n]*!\[[^\]]*\]\[[^\]]*\]"), ""),  # reference images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # autolinks
    (re.compile(r"(`+)(.+?)\1"), r"\2"),  # code spans
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"), r"\1"),
)
# Escaped characters are parked in the Private Use Area while inline markup is removed.
_PUA = 0xF0000


def _md_inline(line: str) -> str:
    line = _ESCAPE_RE.sub(lambda m: chr(_PUA + ord(m.group(1))), line)
    for pattern, repl in _INLINE_SUBS:
        line = pattern.sub(repl, line)
    return re.sub("[\U000f0000-\U000f007f]", lambda m: chr(ord(m.group(0)) - _PUA), line)


def _from_markdown(raw: str) -> tuple[str, str, str | None]:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    date: str | None = None
    fm_title = ""
    front = _FRONT_MATTER_RE.match(raw)
    if front:
        for key, value in _FM_FIELD_RE.findall(front.group(1)):
            value = value.strip("\"'")
            if key.lower() == "date" and date is None:
                date = _iso_date(value)
            elif key.lower() == "title" and not fm_title:
                fm_title = value
        raw = raw[front.end() :]

    out: list[str] = []
    heading = ""
    fence: str | None = None
    for line in raw.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                continue
            out.append(line)
            continue
        m = _FENCE_RE.match(line)
        if m:
            fence = m.group(1)[0] * 3
            continue
        prev = out[-1] if out else ""
        if _SETEXT_RE.match(line) and prev.strip() and not _LIST_MARKER_RE.match(prev):
            if not heading:
                heading = prev.strip()
            continue
        if _HR_RE.match(line):
            out.append("")
            continue
        if _REF_DEF_RE.match(line):
            continue
        m = _ATX_RE.match(line)
        if m:
            text = _md_inline(m.group(1) or "").strip()
            if text and not heading:
                heading = text
            out.append(text)
            continue
        while _BLOCKQUOTE_RE.match(line):
            line = _BLOCKQUOTE_RE.sub("", line, count=1)
        marker = _LIST_MARKER_RE.match(line)
        if marker:
            out.append(marker.group(1) + _md_inline(line[marker.end() :]))
        else:
            out.append(_md_inline(line))
    text = _normalise("\n".join(out))
    title = heading or fm_title or _first_line(text)
    return text, title, date


# -------------------------------------------------------------------------------------------------- html

_REMOVED_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "iframe",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "head",
        "title",
        "meta",
        "link",
        "object",
        "embed",
        "canvas",
        "select",
        "textarea",
    }
)
_BLOCK_TAGS = frozenset(
    {
        *("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "tr", "section", "article"),
        *("blockquote", "pre", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "main"),
        *("figure", "figcaption", "hr", "address", "details", "summary", "caption", "body", "html", "center"),
    }
)
_CELL_TAGS = frozenset({"td", "th"})
_HTML_SPACE_RE = re.compile(r"[ \t\n\r\f]+")
_DISPLAY_NONE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


def _is_hidden(tag: Tag) -> bool:
    if not tag.attrs:
        return False
    if tag.has_attr("hidden"):
        return True
    if str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    if str(tag.get("role", "")).strip().lower() == "navigation":
        return True
    return bool(_DISPLAY_NONE_RE.search(str(tag.get("style", ""))))


def _html_lines(root: Tag) -> list[str]:
    """Visible text of ``root`` as lines: block elements break lines, inline text is whitespace-collapsed."""
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = _HTML_SPACE_RE.sub(" ", "".join(current)).strip()
        current.clear()
        if line:
            lines.append(line)

    # Iterative walk (deeply nested markup must not hit the recursion limit).
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and not isinstance(node, NavigableString):
            # Markers pushed by this loop: "\n" ends a block, " " separates table cells.
            if node == "\n":
                flush()
            else:
                current.append(node)
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString or isinstance(node, CData):
                current.append(str(node))
            continue  # comments, doctypes, processing instructions
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name == "pre":
            flush()
            for line in node.get_text().split("\n"):
                lines.append(line.rstrip())
            lines.append("")
            continue
        if name in _BLOCK_TAGS:
            flush()
            stack.append("\n")
        elif name in _CELL_TAGS:
            stack.append(" ")
        stack.extend(reversed(node.contents))
    flush()
    # Blank lines only come from <pre>; _normalise() collapses longer runs.
    return lines


def _from_html(raw: str) -> tuple[str, str, str | None]:
    soup = BeautifulSoup(raw, "lxml")

    # One pass over the elements (each find_all would be another full, slow pass).
    title = h1 = ""
    meta_dates: dict[str, str | None] = {}
    time_date: str | None = None
    containers: list[Tag] = []
    doomed: list[Tag] = []
    for node in soup.descendants:
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name == "title" and not title and node.find_parent("svg") is None:
            title = " ".join(node.get_text().split())
        elif name == "h1" and not h1:
            h1 = " ".join(node.get_text().split())
        elif name == "meta":
            key = str(node.get("property") or node.get("name") or "").strip().lower()
            if key in ("article:published_time", "date") and not meta_dates.get(key):
                meta_dates[key] = _iso_date(str(node.get("content", "")))
        elif name == "time" and time_date is None:
            time_date = _iso_date(str(node.get("datetime", "")))
        elif name in ("article", "main"):
            containers.append(node)
        if name in _REMOVED_TAGS or _is_hidden(node):
            doomed.append(node)
    title = title or h1
    date = meta_dates.get("article:published_time") or meta_dates.get("date") or time_date

    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()
    # The first <article> that survived, else the first <main>.
    live = [c for c in containers if not c.decomposed]
    container = next((c for c in live if c.name == "article"), None) or next(
        (c for c in live if c.name == "main"), None
    )
    root = container or soup.body or soup
    lines = _html_lines(root)
    if container is not None and title and (not lines or lines[0] != title):
        lines.insert(0, title)
    text = _normalise("\n".join(lines))
    return text, title or _first_line(text), date


# --------------------------------------------------------------------------------------------------- pdf

_PDF_DATE_RE = re.compile(r"^(?:D:)?(\d{4})(\d{2})(\d{2})")
_LINE_END_RE = re.compile(r"[.!?:;\"”’)\]]$")


def _reflow_pdf_page(text: str) -> str:
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
    return _iso_date(f"{m[1]}-{m[2]}-{m[3]}")


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:200]


def _from_pdf(data: bytes) -> tuple[str, str, str | None, int]:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many kinds of errors on broken input
        raise BadInputError(f"cannot read PDF: {_one_line(exc)}") from None
    if encrypted:
        try:
            ok = bool(reader.decrypt(""))
        except Exception as exc:
            logger.info("PDF decryption failed: %s", _one_line(exc))
            ok = False
        if not ok:
            raise BadInputError("encrypted PDF")
    try:
        n_pages = len(reader.pages)
    except Exception as exc:
        raise BadInputError(f"cannot read PDF: {_one_line(exc)}") from None
    if n_pages > MAX_PDF_PAGES:
        raise BadInputError("PDF has too many pages")

    pages: list[str] = []
    total = 0
    for number in range(n_pages):
        try:
            page_text = extract_pdf_page(reader.pages[number])
        except (BadInputError, WorkCancelled):
            raise
        except Exception as exc:
            logger.warning("skipping unreadable PDF page %d: %s", number + 1, _one_line(exc))
            continue
        total += len(page_text)
        if total > MAX_TEXT_CHARS:
            raise BadInputError("document too large")
        pages.append(_reflow_pdf_page(page_text))
    text = _normalise("\n\n".join(p for p in pages if p.strip()))
    if not text:
        raise BadInputError("PDF has no extractable text (scanned?)")

    title = ""
    date: str | None = None
    try:
        info = reader.metadata
        if info is not None:
            title = str(info.title or "").strip()
            date = _pdf_date(info.creation_date_raw)
    except Exception as exc:
        logger.info("ignoring unreadable PDF metadata: %s", _one_line(exc))
    return text, title or _first_line(text), date, n_pages


# ------------------------------------------------------------------------------------------------- public


def _extract(text: str, fmt: str) -> tuple[str, str, str | None]:
    if fmt == "md":
        return _from_markdown(text)
    if fmt == "html":
        return _from_html(text)
    return _from_txt(text)


def _build(source: str, text: str, title: str, date: str | None, meta: dict[str, str]) -> LoadedDocument:
    if not text.strip():
        raise BadInputError("no text after extraction")
    return LoadedDocument(
        source=source, title=_clean_title(title or _first_line(text)), text=text, date=date, meta=meta
    )


def load_bytes(data: bytes, *, source: str, filename: str | None = None) -> LoadedDocument:
    """Load an uploaded or read file; the format comes from the suffix of ``filename`` (or ``source``)."""
    name = filename or source
    suffix = _suffix(name)
    fmt = _FORMAT_BY_SUFFIX.get(suffix)
    if fmt is None:
        raise _unsupported(suffix)
    if not data:
        raise BadInputError("empty file")
    _check_size(len(data))
    meta = {"format": fmt, "filename": PurePath(name.replace("\\", "/")).name}
    if fmt == "pdf":
        text, title, date, n_pages = _from_pdf(data)
        meta["pages"] = str(n_pages)
    else:
        text, title, date = _extract(_decode(data, fmt), fmt)
    return _build(source, text, title, date, meta)


def load_path(path: Path, source: str) -> LoadedDocument:
    """Read and load one file from disk."""
    try:
        if not path.is_file():
            raise BadInputError("no such file")
        _check_size(path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read file: {exc.strerror or _one_line(exc)}") from None
    return load_bytes(data, source=source, filename=path.name)


def load_text(text: str, *, source: str, title: str | None = None, fmt: str = "txt") -> LoadedDocument:
    """Load text sent directly (e.g. in a JSON body); ``fmt`` is ``txt``, ``md`` or ``html``."""
    kind = _TEXT_FORMATS.get(fmt.lower().lstrip("."))
    if kind is None:
        raise BadInputError(f"unsupported format '{fmt}' (supported: txt, md, html)")
    if not text:
        raise BadInputError("empty text")
    _check_size(len(text.encode("utf-8", errors="replace")))
    if "\x00" in text or _control_ratio(text) > 0.1:
        raise BadInputError("binary data, not text")
    body, found_title, date = _extract(text, kind)
    if title is not None and title.strip():
        found_title = title
    return _build(source, body, found_title, date, {"format": kind})


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
    given directly gets its file name as source, and is a failure if its type is unsupported.
    """
    found: list[tuple[Path, str]] = []
    failures: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
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
