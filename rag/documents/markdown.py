"""Markdown (``.md``, ``.markdown``): markup removed, the first heading as title; YAML-style front matter gives
the title, the date and metadata (every other ``key: value`` line)."""

from __future__ import annotations

import re

from rag.documents.base import Extracted, first_line, iso_date, normalise

FORMAT = "md"
SUFFIXES = (".md", ".markdown")
MAX_META_FIELDS = 50
MAX_META_VALUE_CHARS = 500

_FRONT_MATTER_RE = re.compile(r"\A---[^\S\n]*\n(.*?)\n(?:---|\.\.\.)[^\S\n]*(?:\n|\Z)", re.DOTALL)
_FM_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]{0,63})\s*:[^\S\n]*(.*?)\s*$", re.MULTILINE)
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


def md_inline(line: str) -> str:
    line = _ESCAPE_RE.sub(lambda m: chr(_PUA + ord(m.group(1))), line)
    for pattern, repl in _INLINE_SUBS:
        line = pattern.sub(repl, line)
    return re.sub("[\U000f0000-\U000f007f]", lambda m: chr(ord(m.group(0)) - _PUA), line)


def front_matter(raw: str) -> tuple[dict[str, str], str]:
    """The ``key: value`` fields of a leading front matter block (keys lower-cased, quotes dropped) and the rest."""
    front = _FRONT_MATTER_RE.match(raw)
    if not front:
        return {}, raw
    fields: dict[str, str] = {}
    for key, value in _FM_FIELD_RE.findall(front.group(1)):
        key = key.lower()
        value = value.strip().strip("\"'").strip()
        if value and key not in fields and len(fields) < MAX_META_FIELDS:
            fields[key] = value[:MAX_META_VALUE_CHARS]
    return fields, raw[front.end() :]


def from_text(raw: str) -> Extracted:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    fields, raw = front_matter(raw)
    date = iso_date(fields.pop("date", None))
    fm_title = fields.pop("title", "")

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
            text = md_inline(m.group(1) or "").strip()
            if text and not heading:
                heading = text
            out.append(text)
            continue
        while _BLOCKQUOTE_RE.match(line):
            line = _BLOCKQUOTE_RE.sub("", line, count=1)
        marker = _LIST_MARKER_RE.match(line)
        if marker:
            out.append(marker.group(1) + md_inline(line[marker.end() :]))
        else:
            out.append(md_inline(line))
    text = normalise("\n".join(out))
    title = heading or fm_title or first_line(text)
    return Extracted(text, title, date, meta=fields)
