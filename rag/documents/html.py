"""HTML (``.html``, ``.htm``): the visible text of the first ``<article>`` (else ``<main>``, else ``<body>``);
scripts, navigation, forms and hidden elements removed; the title from ``<title>`` or the first ``<h1>``; the
date from ``article:published_time`` / ``date`` meta tags or the first ``<time datetime>``."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, CData, NavigableString, Tag

from rag.documents.base import Extracted, iso_date, normalise

FORMAT = "html"
SUFFIXES = (".html", ".htm")

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


def html_lines(root: Tag) -> list[str]:
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


def from_text(raw: str) -> Extracted:
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
                meta_dates[key] = iso_date(str(node.get("content", "")))
        elif name == "time" and time_date is None:
            time_date = iso_date(str(node.get("datetime", "")))
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
    lines = html_lines(root)
    if container is not None and title and (not lines or lines[0] != title):
        lines.insert(0, title)
    text = normalise("\n".join(lines))
    return Extracted(text, title, date)
