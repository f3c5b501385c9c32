"""The edge of the edge, as one pure ASGI middleware (safe for streaming responses):

* a request id (``X-Request-ID`` taken when sane, else generated) echoed on every response;
* a per-client-IP rate limit on ``/v1/*`` → 429 + Retry-After;
* the body limit (``max_body_bytes``, ``max_upload_bytes`` for ``POST /v1/documents``): Content-Length is checked
  first, then the bytes actually received → 413 naming the limit;
* unexpected exceptions → 500 of the stable error shape (no details leave the server);
* one access-log line per request (key=value; never headers, and query values redacted, so never a key) and the
  request metrics. ``ragqa serve`` turns uvicorn's own access log off: this line is the only one.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import LimitExceeded, Mapped, map_exception
from api.schemas import error_body
from api.state import AppState

log = logging.getLogger("api.access")
error_log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for multipart framing and small form fields on top of ``max_upload_bytes``."""
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DOCUMENTS_PATH = "/v1/documents"


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    def _body_limit(self, method: str, path: str) -> tuple[int, str, int]:
        """(bytes allowed, name of the setting, its value)."""
        s = self.state.settings
        if method == "POST" and path.rstrip("/") == _DOCUMENTS_PATH:
            return s.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, "max_upload_bytes", s.max_upload_bytes
        return s.max_body_bytes, "max_body_bytes", s.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        method: str = scope["method"]
        path: str = scope["path"]
        client = scope.get("client")
        client_ip = client[0] if client else "unknown"
        status = 500
        response_started = False
        responded_early = False  # this middleware answered (413 mid-body); drop what the app sends after

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if responded_early:
                return
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        async def respond(mapped: Mapped) -> None:
            body = json.dumps(error_body(mapped.kind, mapped.message)).encode()
            raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in mapped.headers.items()]
            await send_wrapper({"type": "http.response.start", "status": mapped.status, "headers": raw})
            await send_wrapper({"type": "http.response.body", "body": body})

        try:
            if path.startswith("/v1/") and method != "OPTIONS":
                wait = self.state.limiter.acquire(client_ip)
                if wait:
                    self.state.metrics.rate_limited()
                    per_minute = self.state.settings.rate_limit_per_minute
                    await respond(
                        Mapped(
                            429,
                            "rate_limited",
                            f"too many requests: at most {per_minute} per minute per client "
                            f"(limit: rate_limit_per_minute); retry in {wait} s",
                            {"Retry-After": str(wait)},
                        )
                    )
                    return

            limit, limit_name, limit_value = self._body_limit(method, path)
            declared = headers.get("content-length")
            if declared is not None:
                if not declared.strip().isdigit():
                    await respond(Mapped(400, "bad_request", "invalid Content-Length header"))
                    return
                if int(declared) > limit:
                    await respond(_too_large(limit_name, limit_value, int(declared)))
                    return

            received = 0

            async def limited_receive() -> Message:
                nonlocal received, responded_early
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit and not responded_early:
                        if not response_started:
                            await respond(_too_large(limit_name, limit_value, received))
                        responded_early = True
                        return {"type": "http.disconnect"}
                return message

            await self.app(scope, limited_receive, send_wrapper)
        except Exception as exc:
            if response_started:
                error_log.exception("request %s failed after the response started", request_id)
                raise
            mapped = map_exception(exc)
            if mapped.status >= 500:
                error_log.exception("request %s failed: %s", request_id, type(exc).__name__)
            await respond(mapped)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template: str = getattr(route, "path", None) or "unmatched"
            self.state.metrics.observe_request(method, template, status, seconds)
            log.info(
                "request_id=%s method=%s path=%s route=%s status=%d duration_ms=%.1f client=%s",
                request_id,
                method,
                _safe_path(path) + _redacted_query(scope.get("query_string", b"")),
                template,
                status,
                seconds * 1000,
                client_ip,
                extra={"request_id": request_id},
            )


def _too_large(limit_name: str, limit_value: int, size: int) -> Mapped:
    return map_exception(LimitExceeded(limit_name, limit_value, f"request body too large ({size} bytes)", status=413))


def _redacted_query(query: bytes) -> str:
    """The query's parameter names with every value replaced by ``***`` (``?api_key=***&q=***``): a key or a
    question sent in the URL never reaches the log."""
    if not query:
        return ""
    names = [part.split(b"=", 1)[0].decode("latin-1") for part in query.split(b"&") if part][:20]
    return "?" + "&".join(_safe_path(name)[:40] + "=***" for name in names)


def _safe_path(path: str) -> str:
    """The path as one token for the log line (no spaces or control characters, bounded length)."""
    cleaned = "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in path)
    return cleaned[:300]
