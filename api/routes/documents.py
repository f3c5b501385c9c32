"""Documents: add (JSON text or multipart upload), list, read, delete. Writes need an API key."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.cancel import run_cancellable
from api.deps import EngineDep, ReadAccess, SettingsDep, WriteAccess
from api.errors import ApiError
from api.limits import check_upload
from api.routes.ask import ERRORS
from api.schemas import (
    COLLECTION_PATTERN,
    MAX_SOURCE_CHARS,
    DeletedOut,
    DocumentDetail,
    DocumentIn,
    DocumentList,
    IngestOut,
    document_detail,
    document_summary,
)
from index import DEFAULT_COLLECTION
from rag import ingest
from rag.documents import LoadedDocument, load_bytes, load_text
from rag.engine import Engine
from rag.errors import BadInputError

router = APIRouter(tags=["documents"])

_DRIVE_RE = re.compile(r"^[A-Za-z]:")

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "txt, md, html, pdf, docx, pptx, epub, csv, png or jpg",
                        },
                        "source": {"type": "string", "description": "Defaults to the file name."},
                        "collection": {"type": "string", "description": "Defaults to `default`.", "example": "risk"},
                        "meta": {
                            "type": "string",
                            "description": "Metadata as a JSON object of text values.",
                            "example": '{"team": "risk"}',
                        },
                    },
                }
            },
        },
    }
}


def check_source(source: str) -> str:
    """A source is a relative, forward-slash name: no ``..`` segment, no absolute path, NUL, backslash or control,
    no surrounding spaces and no empty segment (``a//b``, ``dir/``). Returned in Unicode NFC, as it is stored."""
    problem = None
    if not source or not source.strip():
        problem = "is empty"
    elif len(source) > MAX_SOURCE_CHARS:
        problem = f"is longer than {MAX_SOURCE_CHARS} characters"
    elif "\x00" in source or any(not ch.isprintable() for ch in source):
        problem = "contains a NUL or control character"
    elif "\\" in source:
        problem = "contains a backslash"
    elif source.startswith(("/", "~")) or _DRIVE_RE.match(source):
        problem = "is an absolute path"
    elif any(part in ("..", ".") for part in source.split("/")):
        problem = "contains a '..' or '.' path segment"
    elif source != source.strip() or any(part != part.strip() for part in source.split("/")):
        problem = "has leading or trailing spaces (in a path segment)"
    elif source.endswith("/"):
        problem = "ends with '/'"
    elif "//" in source:
        problem = "contains an empty path segment ('//')"
    if problem:
        raise ApiError(400, "bad_source", f"invalid source: it {problem} (use a relative name like 'news/article.txt')")
    return ingest.normalize_source(source)


def _form_meta(value: object) -> dict[str, str]:
    """The multipart field ``meta``: a JSON object of text values (absent: no metadata)."""
    if value is None:
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ApiError(422, "validation_error", "the multipart field 'meta' must be a JSON object of text values")
    return {str(k): v for k, v in parsed.items()}


def _ingest(
    engine: Engine,
    load: Callable[[], LoadedDocument],
    cancel: threading.Event,
    collection: str = DEFAULT_COLLECTION,
) -> IngestOut:
    """Load and embed under the document's budget (raises ``BadInputError`` before anything is written), then
    commit under the writer lock; a disconnect (``cancel``) stops it with ``WorkCancelled``."""
    result = ingest.add_document(engine, load, collection, cancel=cancel)
    if result.status == "failed":
        raise BadInputError(result.reason or "the document could not be indexed")
    return IngestOut(source=result.source, status=result.status, chunks=result.chunks)


def _form_collection(value: object) -> str:
    if value is None:
        return DEFAULT_COLLECTION
    if not isinstance(value, str) or not re.fullmatch(COLLECTION_PATTERN, value):
        raise ApiError(
            422, "validation_error", "the multipart field 'collection' must be a collection name (letters, digits, _.-)"
        )
    return value


CollectionQuery = Annotated[
    str,
    Query(
        pattern=COLLECTION_PATTERN,
        description="The collection (letters, digits, '_', '.', '-'; at most 64).",
        examples=["default"],
    ),
]


@router.post(
    "/v1/documents",
    status_code=201,
    response_model=IngestOut,
    responses={**ERRORS, 415: {"model": ERRORS[400]["model"]}},
    openapi_extra=_UPLOAD_BODY,
)
async def add_document(request: Request, engine: EngineDep, settings: SettingsDep, access: WriteAccess) -> IngestOut:
    """Add or replace a document from JSON `{"source","text","title"?,"format"?,"meta"?}` or a multipart `file`
    upload (fields `source`?, `meta`? as a JSON object)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    load: Callable[[], LoadedDocument]
    if content_type == "application/json":
        try:
            doc_in = DocumentIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_input=False)) from None
        source = check_source(doc_in.source)
        collection = doc_in.collection
        access.check_write(collection)
        check_upload(len(doc_in.text.encode("utf-8", errors="replace")), settings)

        def load() -> LoadedDocument:
            return load_text(doc_in.text, source=source, title=doc_in.title, fmt=doc_in.format, meta=doc_in.meta)

    elif content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "validation_error", "the multipart field 'file' (the document) is required")
            given = form.get("source")
            if given is not None and not isinstance(given, str):
                raise ApiError(422, "validation_error", "the multipart field 'source' must be text")
            meta = _form_meta(form.get("meta"))
            collection = _form_collection(form.get("collection"))
            access.check_write(collection)
            data = await upload.read(settings.max_upload_bytes + 1)
            check_upload(upload.size if upload.size is not None else len(data), settings)
            filename = upload.filename or ""
        source = check_source(given or filename)
        if filename:
            filename = filename.replace("\\", "/").rsplit("/", 1)[-1]

        def load() -> LoadedDocument:
            return load_bytes(data, source=source, filename=filename or None, meta=meta)

    else:
        raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")
    return await run_cancellable(request, lambda cancel: _ingest(engine, load, cancel, collection))


@router.get("/v1/documents", response_model=DocumentList, responses=ERRORS)
def list_documents(
    engine: EngineDep, access: ReadAccess, collection: CollectionQuery = DEFAULT_COLLECTION
) -> DocumentList:
    """The documents of one collection."""
    access.check_read(collection)
    return DocumentList(documents=[document_summary(d) for d in engine.store.list_documents(collection)])


SourcePath = Annotated[str, Path(description="The document's source (may contain '/').")]


@router.get("/v1/documents/{source:path}", response_model=DocumentDetail, responses={**ERRORS, 404: ERRORS[400]})
def get_document(
    source: SourcePath, engine: EngineDep, access: ReadAccess, collection: CollectionQuery = DEFAULT_COLLECTION
) -> DocumentDetail:
    source = check_source(source)
    access.check_read(collection)
    record = engine.store.get_document(source, collection)
    return document_detail(record, engine.store.document_text(source, collection))


@router.delete("/v1/documents/{source:path}", response_model=DeletedOut, responses={**ERRORS, 404: ERRORS[400]})
def delete_document(
    source: SourcePath, engine: EngineDep, access: WriteAccess, collection: CollectionQuery = DEFAULT_COLLECTION
) -> DeletedOut:
    source = check_source(source)
    access.check_write(collection)
    ingest.remove_document(engine, source, collection)
    return DeletedOut(source=source)
