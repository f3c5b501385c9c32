"""CORS by route: the widget's routes may be called from the pages it is embedded in; nothing else by default.

* ``/v1/ask``, ``/v1/ask/stream``, ``/v1/chat/completions``, ``/v1/feedback``, ``/v1/widget/config`` (what the
  widget calls): origins in ``cors_origins`` plus ``widget_origins`` (default ``*``: any page may embed the widget;
  the allowed origin is echoed back);
* every other route — documents, search, metrics: only ``cors_origins`` (default empty: same origin only), so a
  website a user happens to visit cannot read a local instance's corpus through the user's browser.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

WIDGET_PATHS = frozenset({"/v1/ask", "/v1/ask/stream", "/v1/chat/completions", "/v1/feedback", "/v1/widget/config"})


class RouteCORSMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        cors_origins: Sequence[str],
        widget_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int = 600,
    ) -> None:
        common = {
            "allow_methods": allow_methods,
            "allow_headers": allow_headers,
            "expose_headers": expose_headers,
            "max_age": max_age,
        }
        self.default = CORSMiddleware(app, allow_origins=list(cors_origins), **common)  # type: ignore[arg-type]
        widget = [o for o in (*cors_origins, *widget_origins) if o != "*"]
        any_site = "*" in widget_origins or "*" in cors_origins
        self.widget = CORSMiddleware(
            app,
            allow_origins=widget,
            allow_origin_regex=".*" if any_site else None,  # echo the page's origin rather than "*"
            **common,  # type: ignore[arg-type]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in WIDGET_PATHS:
            await self.widget(scope, receive, send)
        else:
            await self.default(scope, receive, send)
