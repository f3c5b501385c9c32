"""The per-format loaders (docx, pptx, epub, csv, OCR of images and scanned PDFs): text, title, pages, metadata,
and hostile input (zip bombs, huge or broken files) failing with a clear one-line reason per file while the
rest of an ingest run still goes in. Every sample file is generated here."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from rag import documents
from rag.documents import load_bytes, load_path, ocr
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import ingest_paths
from rag.text import chunk_lines


def error_of(data: bytes, filename: str) -> str:
    with pytest.raises(BadInputError) as info:
        load_bytes(data, source=filename)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------ sample makers


def make_docx(paragraphs: list[tuple[str, str | None]], table: list[list[str]] | None = None, title: str = "") -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for text, style in paragraphs:
        document.add_paragraph(text, style=style)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str]], notes: str = "") -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    for heading, body in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def make_epub(chapters: list[tuple[str, str]], title: str = "The Book") -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title(title)
    book.set_language("en")
    book.add_metadata("DC", "date", "2024-06-18")
    items = []
    for n, (heading, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"c{n}.xhtml", lang="en")
        item.content = f"<html><body><h1>{heading}</h1><p>{body}</p><script>alert(1)</script></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def text_image(lines: list[str]) -> Image.Image:
    font = ImageFont.load_default(size=36)
    image = Image.new("L", (1400, 80 + 60 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((40, 40 + 60 * n), line, fill=0, font=font)
    return image


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_scanned_pdf(pages: list[list[str]]) -> bytes:
    pdf = FPDF()
    for lines in pages:
        pdf.add_page()
        pdf.image(text_image(lines), x=10, y=10, w=190)
    return bytes(pdf.output())


def zip_bomb_like(name: str, inner: str, mimetype: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype:
            archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr(inner, b"\0" * (8 * 1024 * 1024))
    data = out.getvalue()
    assert len(data) < 64 * 1024, name
    return data


# ------------------------------------------------------------------------------------------------ formats


def test_docx_paragraphs_tables_and_title() -> None:
    data = make_docx(
        [("Quarterly Review", "Heading 1"), ("Revenue rose 12% in the third quarter.", None)],
        table=[["Region", "Sales"], ["North", "140"]],
    )
    doc = load_bytes(data, source="q3.docx")
    assert doc.title == "Quarterly Review"
    assert "Revenue rose 12% in the third quarter." in doc.text
    assert "Region | Sales\nNorth | 140" in doc.text
    assert doc.meta["format"] == "docx" and doc.page_starts == ()
    assert load_bytes(make_docx([("Body only.", None)], title="Props Title"), source="b.docx").title == "Props Title"


def test_pptx_slides_are_pages() -> None:
    data = make_pptx([("Intro", "Welcome to the plan."), ("Budget", "We spend 40 million won."), ("End", "Thanks.")])
    doc = load_bytes(data, source="deck.pptx")
    assert doc.title == "Intro"
    assert doc.meta["pages"] == "3"
    assert len(doc.page_starts) == 3
    second = doc.text.index("Budget")
    assert doc.page_starts[1] <= second < doc.page_starts[2]
    assert doc.text[doc.page_starts[2] :].startswith("End")


def test_epub_chapters_in_order_without_scripts() -> None:
    data = make_epub([("Chapter One", "It was a bright day."), ("Chapter Two", "Then it rained.")])
    doc = load_bytes(data, source="book.epub")
    assert doc.title == "The Book" and doc.date == "2024-06-18"
    assert doc.text.index("It was a bright day.") < doc.text.index("Then it rained.")
    assert "alert" not in doc.text


def test_csv_rows_keep_their_header_and_chunk_as_whole_rows() -> None:
    raw = "name,team,budget\nAlpha,risk,100\nBeta,ops,\n\nGamma,risk,300\n"
    doc = load_bytes(raw.encode(), source="data/projects.csv")
    assert doc.title == "projects"
    assert doc.text.split("\n") == [
        "name: Alpha | team: risk | budget: 100",
        "name: Beta | team: ops",
        "name: Gamma | team: risk | budget: 300",
    ]
    assert doc.meta["rows"] == "3"
    chunks = chunk_lines(doc.text, max_words=14)
    assert [c.text.count("\n") + 1 for c in chunks] == [2, 1]
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    semicolons = load_bytes(b"a;b\n1;2\n", source="s.csv")
    assert semicolons.text == "a: 1 | b: 2"
    assert error_of(b"only,a,header\n", "h.csv") == "CSV has no data rows"


def test_markdown_front_matter_is_metadata() -> None:
    raw = "---\ntitle: Risk memo\ndate: 2024-05-01\nteam: risk\nowner: 'Kim'\n---\n# Heading\n\nBody text.\n"
    doc = load_bytes(raw.encode(), source="memo.md", meta={"region": "emea"})
    assert doc.meta == {"format": "md", "filename": "memo.md", "team": "risk", "owner": "Kim", "region": "emea"}
    assert doc.date == "2024-05-01"
    with pytest.raises(BadInputError, match="bad metadata key"):
        load_bytes(raw.encode(), source="memo.md", meta={"bad key": "x"})


# ---------------------------------------------------------------------------------------------------- OCR


def test_png_is_read_by_ocr() -> None:
    doc = load_bytes(png_bytes(text_image(["Seoul reviews arms exports"])), source="scan.png")
    assert "Seoul" in doc.text and "arms" in doc.text
    assert doc.meta["ocr"] == "tesseract" and doc.title == "scan"


def test_scanned_pdf_pages_are_read_by_ocr_with_page_offsets() -> None:
    data = make_scanned_pdf([["Budget review for Seoul"], ["Second page about Ukraine"]])
    doc = load_bytes(data, source="scan.pdf")
    assert doc.meta["ocr_pages"] == "2"
    assert len(doc.page_starts) == 2
    assert doc.text.index("Ukraine") >= doc.page_starts[1] > doc.text.index("Seoul")


def test_ocr_says_clearly_when_tesseract_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    message = error_of(png_bytes(text_image(["hello"])), "a.png")
    assert message == ocr.MISSING
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in message
    assert error_of(make_scanned_pdf([["hello"]]), "scan.pdf") == ocr.MISSING


# ------------------------------------------------------------------------------------------------ hostile


@pytest.mark.parametrize(
    ("name", "inner", "mimetype"),
    [("bomb.docx", "word/document.xml", None), ("bomb.epub", "OEBPS/c1.xhtml", "application/epub+zip")],
)
def test_zip_bombs_are_refused_before_unpacking(name: str, inner: str, mimetype: str | None) -> None:
    assert "zip bomb" in error_of(zip_bomb_like(name, inner, mimetype), name)


def test_too_many_zip_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents.zipguard, "MAX_ENTRIES", 5)
    assert error_of(make_docx([("x", None)]), "a.docx").startswith("docx file has too many parts")


def test_huge_slides_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    deck = make_pptx([(f"Slide {n}", "text " * 50) for n in range(4)])
    monkeypatch.setattr(documents.pptx, "MAX_SLIDES", 3)
    assert error_of(deck, "many.pptx") == "pptx has too many slides (4 > 3)"
    monkeypatch.setattr(documents.pptx, "MAX_SLIDES", 2000)
    monkeypatch.setattr(documents.base, "MAX_TEXT_CHARS", 500)
    assert error_of(deck, "long.pptx") == "document too large"


@pytest.mark.parametrize("name", ["a.docx", "a.pptx", "a.epub", "a.png", "a.jpg", "a.pdf"])
def test_broken_files_fail_with_one_line(name: str) -> None:
    message = error_of(b"PK\x03\x04 this is not what it claims to be" * 3, name)
    assert message.startswith(("cannot read", "docx file", "pptx file", "epub file"))


def test_image_decompression_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "MAX_PIXELS", 1000)
    assert error_of(png_bytes(Image.new("L", (100, 100), 255)), "big.png").startswith("image too large")


def test_ingest_run_keeps_going_past_hostile_files(tmp_path: Path, fake_engine: Engine) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.docx").write_bytes(make_docx([("Good docx about Seoul exports.", None)]))
    (folder / "good.csv").write_text("city,exports\nSeoul,140\n")
    (folder / "deck.pptx").write_bytes(make_pptx([("Deck", "Slides about exports.")]))
    (folder / "bomb.docx").write_bytes(zip_bomb_like("bomb.docx", "word/document.xml"))
    (folder / "bomb.epub").write_bytes(zip_bomb_like("bomb.epub", "c.xhtml", "application/epub+zip"))
    (folder / "broken.pptx").write_bytes(b"not a zip")
    engine = fake_engine
    summary = ingest_paths(engine, [folder], progress=False)
    reasons = {r.source: r.reason for r in summary.failed}
    assert set(reasons) == {"bomb.docx", "bomb.epub", "broken.pptx"}
    assert all(r and "\n" not in r for r in reasons.values())
    assert summary.count("added") == 3
    assert {d.source for d in engine.store.list_documents()} == {"good.docx", "good.csv", "deck.pptx"}
    assert engine.store.verify().ok


def test_load_path_of_generated_files(tmp_path: Path) -> None:
    path = tmp_path / "slides.pptx"
    path.write_bytes(make_pptx([("Alpha", "One."), ("Beta", "Two.")]))
    assert load_path(path, "slides.pptx").meta["pages"] == "2"
