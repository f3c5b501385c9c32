"""Blocking work that stops when nobody waits for it any more.

``run_cancellable(request, fn)`` runs ``fn(cancel)`` in the thread pool and sets ``cancel`` (a
``threading.Event``) when the client disconnects, or when the request task itself is cancelled (server shutdown:
Ctrl-C / SIGTERM, after uvicorn's graceful-shutdown timeout). ``fn`` checks the event between its steps
(``rag.budget.IngestBudget``) and gives up with ``WorkCancelled``; nothing half-done is written.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

log = logging.getLogger(__name__)

T = TypeVar("T")

DISCONNECT_POLL_S = 0.25
"""How often a waiting request checks whether its client is still there."""


async def run_cancellable(request: Request, fn: Callable[[threading.Event], T]) -> T:
    cancel = threading.Event()
    task: asyncio.Future[T] = asyncio.ensure_future(run_in_threadpool(fn, cancel))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                log.info("client disconnected; cancelling %s %s", request.method, request.url.path)
                cancel.set()
                return await task  # the worker stops at its next check (WorkCancelled) and releases what it held
    except asyncio.CancelledError:
        cancel.set()
        raise
