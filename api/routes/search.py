"""``GET /v1/search``: hybrid retrieval (+ rerank) without generation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import EngineDep, ReadAccess, SettingsDep
from api.limits import check_k, check_question
from api.routes.ask import ERRORS
from api.schemas import COLLECTION_PATTERN, Filters, SearchResponse, passage_out
from index import DEFAULT_COLLECTION
from rag.collections import in_collection
from rag.filters import parse_pairs
from rag.retrieval import retrieve

router = APIRouter(tags=["search"])


@router.get("/v1/search", response_model=SearchResponse, responses=ERRORS)
def search(
    engine: EngineDep,
    settings: SettingsDep,
    access: ReadAccess,
    q: Annotated[str, Query(description="The query.")],
    k: Annotated[int, Query(ge=1, description="Passages to return (≤ max_k).")] = 5,
    source: Annotated[str | None, Query(description="GLOB on the document source.")] = None,
    date_from: Annotated[dt.date | None, Query()] = None,
    date_to: Annotated[dt.date | None, Query()] = None,
    where: Annotated[
        list[str] | None,
        Query(
            description="Metadata condition `key=value` (repeatable): a key repeated matches any of its values "
            "(in), different keys must all match.",
            examples=["team=risk"],
        ),
    ] = None,
    collection: Annotated[
        str, Query(pattern=COLLECTION_PATTERN, description="The collection to search.", examples=["default"])
    ] = DEFAULT_COLLECTION,
) -> SearchResponse:
    """``GET /v1/search``: the ``k`` best passages for ``q`` in ``collection``, under the filters given."""
    check_question(q, settings)
    check_k(k, settings)
    access.check_read(collection)
    filters = Filters(
        source=source, date_from=date_from, date_to=date_to, meta=parse_pairs(where or [], "where")
    ).to_rag()
    result = retrieve(engine, q, k, in_collection(filters, collection))
    return SearchResponse(query=result.query, passages=[passage_out(p) for p in result.passages])
