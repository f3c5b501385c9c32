"""Document loading: every format's title/text/date, sanitising HTML, every error message, discover()."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fpdf import FPDF

from rag import documents
from rag.budget import IngestBudget, budget_scope
from rag.documents import SUPPORTED_SUFFIXES, LoadedDocument, discover, load_bytes, load_path, load_text
from rag.errors import BadInputError
from rag.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

ARTICLE_TXT = (
    "South Korea Reconsiders Arms Supply to Ukraine Amid Putin's Visit to North Korea\r\n"
    "South Korea is currently re-evaluating its stance — “carefully” — on supplying arms.   \r\n"
    "\r\n\r\n\r\n"
    "The catalyst is Russian President Vladimir Putin’s visit to North Korea.\n"
)


def make_pdf(
    path: Path | None = None,
    pages: tuple[str, ...] = ("Quarterly Report\nRevenue rose 43.9% to $141.9 billion.",),
    title: str | None = "The PDF Title",
    created: dt.datetime | None = dt.datetime(2024, 6, 18, 9, 30, tzinfo=dt.UTC),
    user_password: str | None = None,
) -> bytes:
    pdf = FPDF()
    if title is not None:
        pdf.set_title(title)
    if created is not None:
        pdf.set_creation_date(created)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    data = bytes(pdf.output())
    if path is not None:
        path.write_bytes(data)
    return data


def error_of(data: bytes, filename: str) -> str:
    with pytest.raises(BadInputError) as info:
        load_bytes(data, source=filename)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------------- txt


def test_txt_title_and_normalised_text() -> None:
    doc = load_bytes(ARTICLE_TXT.encode(), source="news/seoul.txt")
    assert isinstance(doc, LoadedDocument)
    assert doc.source == "news/seoul.txt"
    assert doc.title == "South Korea Reconsiders Arms Supply to Ukraine Amid Putin's Visit to North Korea"
    assert doc.text == (
        "South Korea Reconsiders Arms Supply to Ukraine Amid Putin's Visit to North Korea\n"
        "South Korea is currently re-evaluating its stance — “carefully” — on supplying arms.\n"
        "\n"
        "The catalyst is Russian President Vladimir Putin’s visit to North Korea."
    )
    assert doc.date is None
    assert doc.meta == {"format": "txt", "filename": "seoul.txt"}


def test_txt_nfc_and_boms() -> None:
    decomposed = "Cafe\u0301 title\nText about cafe\u0301."
    doc = load_bytes(decomposed.encode(), source="a.txt")
    assert doc.title == "Café title" and doc.text == "Café title\nText about café."
    assert load_bytes(b"\xef\xbb\xbfHello\nWorld.", source="a.txt").text == "Hello\nWorld."
    assert load_bytes("Hi there\nYes.".encode("utf-16"), source="a.txt").text == "Hi there\nYes."


def test_filename_overrides_source_for_format() -> None:
    doc = load_bytes(b"# Head\nBody", source="upload-17", filename="notes.MD")
    assert doc.meta["format"] == "md" and doc.title == "Head" and doc.source == "upload-17"


def test_real_seed_file() -> None:
    seed = Path(__file__).resolve().parents[2] / "seeds" / "seoul-arms-ukraine.txt"  # tracked in the repo
    doc = load_path(seed, "seoul-arms-ukraine.txt")
    assert doc.title.startswith("South Korea Reconsiders Arms Supply")
    assert "Putin’s visit to North Korea" in doc.text


# ----------------------------------------------------------------------------------------------- markdown


MARKDOWN = """---
title: Front Title
date: "2024-03-05"
tags: [a, b]
---

# The *Real* Title

Some **bold**, _italic_, `code` and a [link](https://example.com) here. ![logo](logo.png)
Keep snake_case_name and 2*3*4 as they are, and an escaped \\*star\\*.

- first item
- second [item](x.html)

1. numbered

> A quoted line.

```python
x = 1  # *not* emphasis
```

Sub heading
-----------
Final paragraph — with “quotes”.
"""


def test_markdown_title_date_and_plain_text() -> None:
    doc = load_bytes(MARKDOWN.encode(), source="a.md")
    assert doc.title == "The Real Title"
    assert doc.date == "2024-03-05"
    assert doc.meta["format"] == "md"
    assert doc.text == (
        "The Real Title\n\n"
        "Some bold, italic, code and a link here.\n"
        "Keep snake_case_name and 2*3*4 as they are, and an escaped *star*.\n\n"
        "- first item\n"
        "- second item\n\n"
        "1. numbered\n\n"
        "A quoted line.\n\n"
        "x = 1  # *not* emphasis\n\n"
        "Sub heading\n"
        "Final paragraph — with “quotes”."
    )
    assert "title:" not in doc.text and "---" not in doc.text


def test_markdown_setext_title_and_fallbacks() -> None:
    assert load_bytes(b"My Title\n========\n\nBody text.", source="a.markdown").title == "My Title"
    assert load_bytes(b"Just a first line\nmore", source="a.md").title == "Just a first line"
    front_only = b"---\ntitle: From Front Matter\n---\nplain text without heading"
    assert load_bytes(front_only, source="a.md").title == "From Front Matter"


# --------------------------------------------------------------------------------------------------- html


HTML = """<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Seoul Weighs Arms for Kyiv</title>
<meta property="article:published_time" content="2024-06-20T08:00:00+09:00">
<style>p { color: red }</style>
<script>var secret = "SCRIPT-TEXT";</script>
</head>
<body>
<nav>Home | World | NAV-TEXT</nav>
<header><div>HEADER-TEXT</div></header>
<div role="navigation">ROLE-NAV</div>
<p>Outside the article.</p>
<article>
  <h1>Seoul Weighs Arms for Kyiv</h1>
  <p>South   Korea is
     re-evaluating &amp; reconsidering — “carefully”.</p>
  <p>Payload: &lt;img src=x onerror=alert(1)&gt; stays text.</p>
  <p>Inline <b>bold</b>, <a href="#">link</a><br>after break.</p>
  <div hidden>HIDDEN-TEXT</div>
  <span aria-hidden="true">ARIA-HIDDEN</span>
  <noscript>NOSCRIPT-TEXT</noscript>
  <ul><li>one</li><li>two</li></ul>
  <aside>ASIDE-TEXT</aside>
  <form><button>BUTTON-TEXT</button></form>
  <iframe src="x"></iframe><svg><text>SVG-TEXT</text></svg>
  <!-- COMMENT-TEXT -->
</article>
<footer>FOOTER-TEXT</footer>
</body></html>
"""


def test_html_article_text_title_date() -> None:
    doc = load_bytes(HTML.encode(), source="site/page.html")
    assert doc.title == "Seoul Weighs Arms for Kyiv"
    assert doc.date == "2024-06-20"
    assert doc.meta == {"format": "html", "filename": "page.html"}
    assert doc.text == (
        "Seoul Weighs Arms for Kyiv\n"
        "South Korea is re-evaluating & reconsidering — “carefully”.\n"
        "Payload: <img src=x onerror=alert(1)> stays text.\n"
        "Inline bold, link\n"
        "after break.\n"
        "one\n"
        "two"
    )
    junk = ("SCRIPT", "NAV", "HEADER", "HIDDEN", "NOSCRIPT", "ASIDE", "BUTTON", "SVG", "COMMENT", "FOOTER")
    assert not [word for word in junk if word in doc.text]
    assert "Outside the article" not in doc.text


def test_html_without_article_uses_body_h1_and_time() -> None:
    html = (
        "<html><body><script>alert(1)</script><h1>Big &amp; Bold</h1>"
        "<p>Posted <time datetime='2023-12-01T10:00'>Dec 1</time>.</p>"
        "<div><p>Para one.</p><p>Para two.</p></div><pre>  code\n    indented</pre></body></html>"
    )
    doc = load_bytes(html.encode(), source="x.htm")
    assert doc.title == "Big & Bold"
    assert doc.date == "2023-12-01"
    assert doc.text == "Big & Bold\nPosted Dec 1.\nPara one.\nPara two.\n  code\n    indented"


def test_html_meta_name_date_and_first_line_title() -> None:
    html = "<meta name='date' content='2022-02-03'><p>First line here</p><p>Second.</p>"
    doc = load_bytes(html.encode(), source="x.html")
    assert doc.date == "2022-02-03"
    assert doc.title == "First line here"


def test_html_declared_legacy_charset() -> None:
    html = "<html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head><body><p>Bon caf\xe9.</p>"
    doc = load_bytes(html.encode("latin-1"), source="x.html")
    assert doc.title == "Café" and doc.text == "Bon café."


# ---------------------------------------------------------------------------------------------------- pdf


def test_pdf_title_text_date() -> None:
    data = make_pdf(
        pages=(
            "Quarterly Report\nRevenue rose 43.9% to $141.9 billion in the quarter, while the company kept "
            "investing in new data centres across several regions and hiring many more engineers.",
            "Page two says hello.",
        )
    )
    doc = load_bytes(data, source="r.pdf")
    assert doc.title == "The PDF Title"
    assert doc.date == "2024-06-18"
    assert doc.meta == {"format": "pdf", "filename": "r.pdf", "pages": "2"}
    assert doc.text.startswith("Quarterly Report\nRevenue rose 43.9% to $141.9 billion")
    # Layout line breaks inside the long sentence are joined back; pages are separated by a blank line.
    assert "hiring many more engineers." in doc.text.replace("\n", " ")
    assert doc.text.endswith("\n\nPage two says hello.")


def test_pdf_title_falls_back_to_first_line(tmp_path: Path) -> None:
    path = tmp_path / "untitled.pdf"
    make_pdf(path, pages=("\nFirst Line Title\nBody text.",), title=None, created=None)
    doc = load_path(path, "untitled.pdf")
    assert doc.title == "First Line Title"


def test_pdf_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert error_of(make_pdf(pages=("",)), "blank.pdf") == "PDF has no extractable text (scanned?)"
    assert error_of(b"%PDF-1.4\nthis is not really a pdf", "broken.pdf").startswith("cannot read PDF: ")
    assert error_of(make_pdf(user_password="secret"), "locked.pdf") == "encrypted PDF"
    # An empty user password opens without asking.
    assert load_bytes(make_pdf(user_password=""), source="open.pdf").title == "The PDF Title"

    monkeypatch.setattr(documents.pdf, "MAX_PDF_PAGES", 2)
    three_pages = make_pdf(pages=("One.", "Two.", "Three."))
    assert error_of(three_pages, "many.pdf") == "PDF has too many pages"
    monkeypatch.setattr(documents.pdf, "MAX_PDF_PAGES", 2000)
    monkeypatch.setattr(documents.base, "MAX_TEXT_CHARS", 8)
    assert error_of(three_pages, "big.pdf") == "document too large"


# ------------------------------------------------------------------------------------------------- errors


def test_unsupported_suffix() -> None:
    message = error_of(b"PK\x03\x04", "report.odt")
    assert message.startswith("unsupported file type '.odt' (supported: .txt, .md")
    assert all(s in message for s in SUPPORTED_SUFFIXES)
    assert error_of(b"text", "README").startswith("unsupported file type")


def test_empty_and_blank_files() -> None:
    assert error_of(b"", "a.txt") == "empty file"
    assert error_of(b"", "a.pdf") == "empty file"
    assert error_of(b"  \r\n\t \n", "a.txt") == "no text after extraction"
    assert error_of(b"<html><script>x()</script><nav>menu</nav></html>", "a.html") == "no text after extraction"
    assert error_of(b"---\ndate: 2024-01-01\n---\n", "a.md") == "no text after extraction"


def test_binary_and_undecodable_text() -> None:
    assert error_of(b"abc\x00def", "a.txt") == "binary file, not text"
    assert error_of(bytes(range(256)) * 8, "a.md") == "binary file, not text"
    assert error_of(bytes([1, 2, 3, 4, 5, 6, 7, 65]) * 50, "a.txt") == "binary file, not text"
    assert error_of("Caf\xe9 au lait is nice.".encode("latin-1"), "a.txt") == "not valid UTF-8 text"
    # UTF-16 without a BOM is not guessed.
    assert error_of("Hello world".encode("utf-16-le"), "a.txt") == "binary file, not text"


def test_file_too_large() -> None:
    data = b"a" * (20 * 1024 * 1024 + 1)
    assert error_of(data, "a.txt") == "file too large (20.0 MB > 20 MB)"
    assert error_of(b"%PDF" + bytes(30 * 1024 * 1024), "a.pdf") == "file too large (30.0 MB > 20 MB)"


def test_file_size_limit_is_the_active_budgets(tmp_path: Path) -> None:
    """``max_document_bytes`` of the active ingest budget bounds every loader: exactly the limit is read, one byte
    more is refused, for bytes, text and files on disk."""
    budget = IngestBudget.from_settings(Settings(_env_file=None, max_document_bytes=100))
    with budget_scope(budget):
        assert load_bytes(b"a" * 100, source="a.txt").text == "a" * 100
        assert error_of(b"a" * 101, "a.txt") == "file too large (101 bytes > 100 bytes)"
        assert load_text("b" * 100, source="b.txt").text == "b" * 100
        with pytest.raises(BadInputError, match=r"^file too large \(101 bytes > 100 bytes\)$"):
            load_text("b" * 101, source="b.txt")
        path = tmp_path / "c.txt"
        path.write_bytes(b"c" * 101)
        with pytest.raises(BadInputError, match=r"^file too large"):
            load_path(path, "c.txt")
    assert load_bytes(b"a" * 101, source="a.txt").text == "a" * 101  # outside the scope: the default limit


def test_load_path_missing(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"^no such file$"):
        load_path(tmp_path / "nope.txt", "nope.txt")
    with pytest.raises(BadInputError, match=r"^no such file$"):
        load_path(tmp_path, "dir")


def test_load_path_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_text("Title\nBody.", encoding="utf-8")
    doc = load_path(path, "folder/doc.txt")
    assert (doc.source, doc.title, doc.text) == ("folder/doc.txt", "Title", "Title\nBody.")
    assert doc.meta == {"format": "txt", "filename": "doc.txt"}


# ---------------------------------------------------------------------------------------------- load_text


def test_load_text_formats() -> None:
    doc = load_text("  A Title\r\nSome text.  \n", source="api:1")
    assert (doc.source, doc.title, doc.text, doc.meta) == (
        "api:1",
        "A Title",
        "A Title\nSome text.",
        {"format": "txt"},
    )
    assert load_text("Body only.", source="s", title="Given Title").title == "Given Title"
    assert load_text("# Heading\n*x*", source="s", fmt="md").text == "Heading\nx"
    html = load_text("<p>&lt;b&gt; is <i>literal</i></p>", source="s", fmt="html")
    assert html.text == "<b> is literal"


def test_load_text_errors() -> None:
    with pytest.raises(BadInputError, match="unsupported format 'pdf'"):
        load_text("x", source="s", fmt="pdf")
    with pytest.raises(BadInputError, match=r"^empty text$"):
        load_text("", source="s")
    with pytest.raises(BadInputError, match=r"^no text after extraction$"):
        load_text("   \n ", source="s")
    with pytest.raises(BadInputError, match="not text"):
        load_text("a\x00b", source="s")


# ----------------------------------------------------------------------------------------------- discover


def test_discover_nested_folders(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".git").mkdir()
    (root / "z.txt").write_text("z")
    (root / "a" / "one.md").write_text("one")
    (root / "b" / "two.HTML").write_text("two")
    (root / "b" / "deep" / "three.pdf").write_bytes(make_pdf())
    (root / "b" / "skip.odt").write_bytes(b"PK")
    (root / "b" / "image.gif").write_bytes(b"\x89PNG")
    (root / ".hidden.txt").write_text("hidden")
    (root / ".git" / "config.txt").write_text("hidden dir")
    single = tmp_path / "single.txt"
    single.write_text("single")
    bad = tmp_path / "notes.odt"
    bad.write_bytes(b"PK")
    missing = tmp_path / "missing"

    found, failures = discover([root, single, bad, missing, single])
    assert [(p.relative_to(tmp_path).as_posix(), s) for p, s in found] == [
        ("corpus/a/one.md", "a/one.md"),
        ("corpus/b/deep/three.pdf", "b/deep/three.pdf"),
        ("corpus/b/two.HTML", "b/two.HTML"),
        ("corpus/z.txt", "z.txt"),
        ("single.txt", "single.txt"),
    ]
    assert failures[0][0] == str(bad)
    assert failures[0][1].startswith("unsupported file type '.odt'")
    assert failures[1] == (str(missing), "no such file or directory")
    assert len(failures) == 2
    # Everything found can be loaded.
    for path, source in found:
        assert load_path(path, source).source == source


def test_discover_refuses_two_files_that_would_get_the_same_source(tmp_path: Path) -> None:
    for folder in ("faq", "howto"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "index.html").write_text(f"<title>{folder}</title><p>{folder} pages</p>")
    first, second = tmp_path / "faq" / "index.html", tmp_path / "howto" / "index.html"
    found, failures = discover([first, second, first])
    assert found == [(first, "index.html")]  # not replaced by the second, silently
    assert len(failures) == 1 and failures[0][0] == str(second)
    assert "already taken by" in failures[0][1] and str(first) in failures[0][1]
    found, failures = discover([tmp_path])  # their folder names them by their paths in it
    assert [s for _, s in found] == ["faq/index.html", "howto/index.html"] and failures == []


def test_discover_subfolder_sources_are_relative_to_given_folder(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "doc.txt").write_text("doc")
    found, failures = discover([tmp_path / "x" / "y"])
    assert [s for _, s in found] == ["doc.txt"]
    assert failures == []
    assert discover([]) == ([], [])


def test_fixture_files_load() -> None:
    doc = load_path(FIXTURES / "sample.html", "sample.html")
    assert doc.title == "Fixture Page"
    assert doc.text == "Fixture Page\nA fixture paragraph with a café & “quotes”."
