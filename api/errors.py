"""The one place where exceptions become HTTP: status, stable ``{"error": {"type", "message"}}`` body, headers.

    ApiError (edge-only: auth, limits, rate limit, bad source, not ready)   → its own status and kind
    rag.errors.RagError and its tree                                      → ``rag.errors.error_info`` (one table)
    anything else                                                         → 500 internal_error (no details)

The edge adds only what HTTP needs: ``Retry-After`` for errors that carry ``retry_after_s`` (and a locked index),
and messages without paths (storage errors name the document, never where the data lives).
FastAPI's own 404/405/422 and every ``HTTPException`` are rewritten into the same shape.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import error_body
from rag.errors import INTERNAL_ERROR, IndexLockedError, RagError, error_info

log = logging.getLogger(__name__)

INDEX_LOCKED_RETRY_S = 5
# Storage messages name paths for the CLI's user; over HTTP they name the document, never where the data lives.
_NOT_FOUND_WHERE = re.compile(r" in [^']*$")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/[^\s'\"(),;]+")


class ApiError(Exception):
    """An error decided at the HTTP edge."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}


def not_ready(reason: str) -> ApiError:
    """503 ``not_ready`` while the lifespan loads (or unloads) the index and models; retry in a few seconds."""
    return ApiError(503, "not_ready", f"the service is not ready: {reason}", {"Retry-After": "5"})


class LimitExceeded(ApiError):
    """A configured limit was exceeded; the message names the setting (e.g. ``max_question_chars``)."""

    def __init__(self, limit: str, value: int, message: str, status: int = 422) -> None:
        super().__init__(status, "limit_exceeded", f"{message} (limit: {limit}={value})")
        self.limit = limit
        self.value = value


@dataclass(frozen=True)
class Mapped:
    status: int
    kind: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


_STATUS_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def map_exception(exc: BaseException) -> Mapped:
    """Status, type, message and headers for any exception (never a secret or a traceback in the message)."""
    if isinstance(exc, ApiError):
        return Mapped(exc.status, exc.kind, exc.message, dict(exc.headers))
    if isinstance(exc, StarletteHTTPException):
        kind = _STATUS_KINDS.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(exc.status_code)
        return Mapped(exc.status_code, kind, detail, dict(exc.headers or {}))
    info = error_info(exc)
    if info is INTERNAL_ERROR:
        return Mapped(info.status, info.kind, info.message or "")
    message = info.message if info.message is not None else _edge_message(info.kind, str(exc))
    return Mapped(info.status, info.kind, message, _retry_after(exc))


def _edge_message(kind: str, message: str) -> str:
    """The exception's message as HTTP shows it: without the data dir's paths."""
    if kind == "not_found":
        return _NOT_FOUND_WHERE.sub("", message)
    if kind == "storage_error":
        return _ABSOLUTE_PATH.sub("<data dir>", message)
    if kind == "bad_input":
        return message or "bad input"
    return message


def _retry_after(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, IndexLockedError):
        return {"Retry-After": str(INDEX_LOCKED_RETRY_S)}
    retry_after_s = getattr(exc, "retry_after_s", None)
    return {} if retry_after_s is None else {"Retry-After": str(max(1, int(retry_after_s)))}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def error_response(mapped: Mapped) -> JSONResponse:
    return JSONResponse(error_body(mapped.kind, mapped.message), status_code=mapped.status, headers=mapped.headers)


def validation_message(exc: RequestValidationError) -> str:
    """The validation errors as one line: ``body.question: Field required; query.k: ...`` (inputs never echoed)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts) or "invalid request"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(map_exception(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(Mapped(422, "validation_error", validation_message(exc)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    mapped = map_exception(exc)
    if mapped.status == 404 and mapped.message == "Not Found":
        mapped = Mapped(404, "not_found", f"no route {request.method} {request.url.path}", mapped.headers)
    elif mapped.status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        mapped = Mapped(405, "method_not_allowed", message, mapped.headers)
    return error_response(mapped)


async def _rag_error(request: Request, exc: Exception) -> JSONResponse:
    mapped = map_exception(exc)
    if mapped.status >= 500 and "Retry-After" not in mapped.headers:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, mapped.message)
    return error_response(mapped)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RagError, _rag_error)
    # Unexpected exceptions are turned into a 500 of the same shape by ``api.middleware.ErrorMiddleware``, which
    # also keeps the request id on that response.
