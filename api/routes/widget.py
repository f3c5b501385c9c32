"""The chat widget (``GET /widget.js``), the limits it follows (``GET /v1/widget/config``) and a demo page embedding
it over the indexed articles (``GET /``)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.deps import SettingsDep, StateDep
from api.schemas import MAX_TURN_CHARS, WidgetConfig
from index.errors import StorageError
from rag.feedback import MAX_COMMENT_CHARS

router = APIRouter(tags=["widget"])

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


@router.get("/widget.js", response_class=Response, include_in_schema=False)
def widget_js() -> Response:
    return Response(
        _static("widget.js"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/v1/widget/config", response_model=WidgetConfig)
def widget_config(settings: SettingsDep) -> WidgetConfig:
    """The limits the widget follows; no key needed (they are not secret), callable from any page that embeds it."""
    return WidgetConfig(
        max_question_chars=settings.max_question_chars,
        max_history=settings.max_history,
        max_turn_chars=MAX_TURN_CHARS,
        max_comment_chars=MAX_COMMENT_CHARS,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo_page(state: StateDep) -> HTMLResponse:
    """The demo page; every title and source is escaped here, on the server."""
    items: list[str] = []
    collection = state.settings.demo_collection
    if state.engine is not None:
        try:
            documents = state.engine.store.list_documents(collection)
        except StorageError:
            documents = []
        for d in documents:
            date = f' <span class="date">{html.escape(d.date)}</span>' if d.date else ""
            items.append(
                f'<li><span class="title">{html.escape(d.title)}</span>{date}'
                f' <code class="source">{html.escape(d.source)}</code></li>'
            )
    listing = "\n".join(items) or '<li class="empty">No articles are indexed yet.</li>'
    page = _static("demo.html").replace("{{count}}", str(len(items))).replace("{{documents}}", listing)
    if collection != "default":
        page = page.replace(
            '<script src="/widget.js" ',
            f'<script src="/widget.js" data-collection="{html.escape(collection, quote=True)}" ',
        )
    return HTMLResponse(page, headers={"Content-Security-Policy": DEMO_CSP, "X-Content-Type-Options": "nosniff"})
