"""The edge of the edge, as small pure ASGI middlewares, one per concern (safe for streaming responses):

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
from dataclasses import dataclass

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
    """The edge as one stack of small pure-ASGI middlewares, outermost first: request id, access log, error
    mapping, rate limit, body limit. Each is usable (and testable) on its own."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        inner: ASGIApp = BodyLimitMiddleware(app, state)
        inner = RateLimitMiddleware(inner, state)
        inner = ErrorMiddleware(inner)
        inner = AccessLogMiddleware(inner, state)
        self.app: ASGIApp = RequestIdMiddleware(inner)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class HttpMiddleware:
    """Base of the edge's middlewares: lifespan and websocket scopes pass through, ``handle`` sees HTTP only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestIdMiddleware(HttpMiddleware):
    """Takes a sane ``X-Request-ID`` (else generates one), keeps it on ``scope["state"]`` and echoes it on the
    response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class AccessLogMiddleware(HttpMiddleware):
    """One access-log line per request (key=value; never headers, query values redacted) and the request
    metrics."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        super().__init__(app)
        self.state = state

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            self._log(scope, status, time.perf_counter() - started)

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        request_id = _request_id(scope)
        route = scope.get("route")
        template: str = getattr(route, "path", None) or "unmatched"
        self.state.metrics.observe_request(method, template, status, seconds)
        log.info(
            "request_id=%s method=%s path=%s route=%s status=%d duration_ms=%.1f client=%s",
            request_id,
            method,
            _safe_path(scope["path"]) + _redacted_query(scope.get("query_string", b"")),
            template,
            status,
            seconds * 1000,
            _client_ip(scope),
            extra={"request_id": request_id},
        )


class ErrorMiddleware(HttpMiddleware):
    """An exception raised before the response started becomes the stable error shape (a 500 without details
    for anything unexpected); after it started, it is logged and re-raised."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response_started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            request_id = _request_id(scope)
            if response_started:
                error_log.exception("request %s failed after the response started", request_id)
                raise
            mapped = map_exception(exc)
            if mapped.status >= 500:
                error_log.exception("request %s failed: %s", request_id, type(exc).__name__)
            await send_error(send, mapped)


class RateLimitMiddleware(HttpMiddleware):
    """A per-client-IP rate limit on ``/v1/*`` (preflights excepted) → 429 + Retry-After."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        super().__init__(app)
        self.state = state

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/v1/") and scope["method"] != "OPTIONS":
            wait = self.state.limiter.acquire(_client_ip(scope))
            if wait:
                self.state.metrics.rate_limited()
                per_minute = self.state.settings.rate_limit_per_minute
                message = (
                    f"too many requests: at most {per_minute} per minute per client "
                    f"(limit: rate_limit_per_minute); retry in {wait} s"
                )
                await send_error(send, Mapped(429, "rate_limited", message, {"Retry-After": str(wait)}))
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware(HttpMiddleware):
    """The body limit (``max_body_bytes``; ``max_upload_bytes`` for ``POST /v1/documents``): Content-Length first,
    then the bytes actually received → 413 naming the limit; what the app sends after that is dropped."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        super().__init__(app)
        self.state = state

    def _body_limit(self, method: str, path: str) -> BodyLimit:
        s = self.state.settings
        if method == "POST" and path.rstrip("/") == _DOCUMENTS_PATH:
            return BodyLimit(s.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, "max_upload_bytes", s.max_upload_bytes)
        return BodyLimit(s.max_body_bytes, "max_body_bytes", s.max_body_bytes)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._body_limit(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_error(send, Mapped(400, "bad_request", "invalid Content-Length header"))
                return
            if int(declared) > limit.allowed:
                await send_error(send, limit.exceeded(int(declared)))
                return
        received = 0
        response_started = False
        responded_early = False  # this middleware answered (413 mid-body); drop what the app sends after

        async def send_unless_answered(message: Message) -> None:
            nonlocal response_started
            if responded_early:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, responded_early
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.allowed and not responded_early:
                    if not response_started:
                        await send_error(send_unless_answered, limit.exceeded(received))
                    responded_early = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send_unless_answered)


@dataclass(frozen=True)
class BodyLimit:
    """The bytes a request body may have, and the setting (name and value) that allows them."""

    allowed: int
    setting: str
    value: int

    def exceeded(self, size: int) -> Mapped:
        return _too_large(self.setting, self.value, size)


async def send_error(send: Send, mapped: Mapped) -> None:
    """Send ``mapped`` as a complete JSON error response of the stable shape."""
    body = json.dumps(error_body(mapped.kind, mapped.message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in mapped.headers.items()]
    await send({"type": "http.response.start", "status": mapped.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


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
