"""The one place where exceptions become HTTP: status, stable ``{"error": {"type", "message"}}`` body, headers.

    ApiError (edge-only: auth, limits, rate limit, bad source, not ready)   → its own status
    rag.errors.BadInputError (incl. rag.budget.LimitError)                → 400 bad_input
    index.errors.DocumentNotFoundError                                    → 404 not_found (no data path)
    rag.errors.BusyError                                                  → 503 busy + Retry-After
    index.errors.IndexLockedError                                         → 503 index_locked + Retry-After
    rag.errors.GeneratorUnavailableError (remote generator down/slow/5xx) → 503 generator_unavailable + Retry-After
    rag.budget.WorkCancelled (client went away)                           → 499 cancelled
    rag.errors.ModelError                                                 → 503 model_error
    index.errors.StorageError                                             → 500 storage_error (paths removed)
    rag.errors.RagError                                                   → 500 rag_error
    anything else                                                         → 500 internal_error (no details)

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
from index.errors import DocumentNotFoundError, IndexLockedError, StorageError
from rag.budget import WorkCancelled
from rag.errors import BadInputError, BusyError, GeneratorUnavailableError, ModelError, RagError
from rag.models.generator import GenerationCancelled

log = logging.getLogger(__name__)

INDEX_LOCKED_RETRY_S = 5
INDEX_LOCKED_MESSAGE = "another writer is changing the index; retry in a few seconds"
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
    if isinstance(exc, BusyError):
        return Mapped(503, "busy", str(exc), {"Retry-After": str(max(1, int(exc.retry_after_s)))})
    if isinstance(exc, DocumentNotFoundError):
        return Mapped(404, "not_found", _NOT_FOUND_WHERE.sub("", str(exc)))
    if isinstance(exc, IndexLockedError):
        return Mapped(503, "index_locked", INDEX_LOCKED_MESSAGE, {"Retry-After": str(INDEX_LOCKED_RETRY_S)})
    if isinstance(exc, GeneratorUnavailableError):
        return Mapped(503, "generator_unavailable", str(exc), {"Retry-After": str(max(1, int(exc.retry_after_s)))})
    if isinstance(exc, BadInputError):
        return Mapped(400, "bad_input", str(exc) or "bad input")
    if isinstance(exc, ModelError):
        return Mapped(503, "model_error", str(exc))
    if isinstance(exc, StorageError):
        return Mapped(500, "storage_error", _ABSOLUTE_PATH.sub("<data dir>", str(exc)))
    if isinstance(exc, GenerationCancelled):
        return Mapped(499, "cancelled", "generation cancelled")
    if isinstance(exc, WorkCancelled):
        return Mapped(499, "cancelled", "cancelled: the client went away")
    if isinstance(exc, RagError):
        return Mapped(500, "rag_error", str(exc))
    if isinstance(exc, StarletteHTTPException):
        kind = _STATUS_KINDS.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(exc.status_code)
        return Mapped(exc.status_code, kind, detail, dict(exc.headers or {}))
    return Mapped(500, "internal_error", "internal server error")


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
    if mapped.status >= 500 and not isinstance(exc, BusyError | IndexLockedError | GeneratorUnavailableError):
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, mapped.message)
    return error_response(mapped)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (RagError, StorageError, GenerationCancelled):
        app.add_exception_handler(exc_type, _rag_error)
    # Unexpected exceptions are turned into a 500 of the same shape by ``api.middleware.EdgeMiddleware``, which
    # also keeps the request id on that response.
