"""Page numbers for citations: the 1-based PDF page or slide of each cited span, looked up in the store.

``rag.answer`` builds citations from evidence spans without pages; ``with_pages`` fills them in afterwards (the
citation's ``start`` decides the page, so character spans stay exact), and ``stream_with_pages`` does the same
for the final ``Answer`` of a stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from index import DocumentNotFoundError, Store
from rag.answer_types import Answer, Citation, StreamEvent


def page_for(store: Store, source: str, start: int, collection: str | None = None) -> int | None:
    """The 1-based page of character ``start`` of ``source`` (None without pages or when it is gone); the
    store's own default collection unless ``collection`` is given (a collection-scoped store reads its own)."""
    try:
        return store.page_of(source, start) if collection is None else store.page_of(source, start, collection)
    except DocumentNotFoundError:
        return None


def with_pages(store: Store, answer: Answer, collection: str | None = None) -> Answer:
    """``answer`` with ``page`` set on every citation (and related quote) of a paged document."""
    cache: dict[tuple[str, int], int | None] = {}

    def cite(c: Citation) -> Citation:
        key = (c.source, c.start)
        if key not in cache:
            cache[key] = page_for(store, c.source, c.start, collection)
        return c if cache[key] == c.page else dataclasses.replace(c, page=cache[key])

    sentences = tuple(dataclasses.replace(s, citations=tuple(cite(c) for c in s.citations)) for s in answer.sentences)
    related = tuple(cite(c) for c in answer.related)
    if sentences == answer.sentences and related == answer.related:
        return answer
    return dataclasses.replace(answer, sentences=sentences, related=related)


def stream_with_pages(
    store: Store, events: Iterator[StreamEvent], collection: str | None = None
) -> Iterator[StreamEvent]:
    """The events of an answer stream, the final ``Answer`` with pages on its citations."""
    for event in events:
        yield with_pages(store, event, collection) if isinstance(event, Answer) else event


def page_label(page: int | None) -> str:
    """``"p. 4"`` (what the CLI and the widget show), or '' without a page."""
    return f"p. {page}" if page is not None else ""
