"""Blocking generation off the event loop: a bounded worker pool, and a bridge from a worker's events to async code.

``GenerationPool`` runs at most ``workers`` jobs at once and lets at most ``queue`` more wait; one more is refused
at once with ``BusyError`` (→ 503 + Retry-After) instead of waiting. ``EventBridge`` runs a blocking event
iterator (``rag.answer.stream_answer``) in the pool and hands its events to an async generator through an
``asyncio.Queue``; when the consumer goes away (client disconnect, generator closed or cancelled) it sets the
``threading.Event`` the iterator was given, which stops the generation at its next token.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Literal, TypeVar

from starlette.requests import Request

from rag.errors import BusyError, GenerationCancelled

log = logging.getLogger(__name__)

T = TypeVar("T")

DISCONNECT_POLL_S = 0.5
"""How often a waiting stream checks whether its client is still there."""
KEEPALIVE_S = 15.0
"""A stream that had nothing to send for this long yields ``None`` (the caller sends an SSE comment)."""


class GenerationPool:
    """``workers`` threads and room for ``queue`` waiting jobs; ``submit`` never blocks."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1:
            raise ValueError(f"generation_workers must be at least 1, got {workers}")
        if queue < 0:
            raise ValueError(f"generation_queue must not be negative, got {queue}")
        self.workers = workers
        self.queue_size = queue
        self.capacity = workers + queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragqa-generate")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._running = 0
        self._durations: collections.deque[float] = collections.deque(maxlen=20)
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def running(self) -> int:
        return self._running

    @property
    def queue_depth(self) -> int:
        """Jobs accepted but not started yet."""
        with self._lock:
            return max(0, self._in_flight - self._running)

    def retry_after_s(self) -> int:
        """A guess at when a slot frees up: mean recent job time × jobs ahead ÷ workers, 1..60 s."""
        with self._lock:
            mean = sum(self._durations) / len(self._durations) if self._durations else 2.0
            ahead = max(1, self._in_flight - self.workers + 1)
        return max(1, min(60, math.ceil(mean * ahead / self.workers)))

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Start ``fn`` on a worker (or queue it); ``BusyError`` when all workers and queue slots are taken."""
        with self._lock:
            if self._closed:
                raise BusyError("the server is shutting down", retry_after_s=5)
            full = self._in_flight >= self.capacity
            if not full:
                self._in_flight += 1
        if full:
            raise BusyError(
                f"all {self.workers} generation workers are busy and {self.queue_size} requests are waiting "
                "(limits: generation_workers, generation_queue); retry later",
                retry_after_s=self.retry_after_s(),
            )

        def job() -> T:
            with self._lock:
                self._running += 1
            started = time.perf_counter()
            try:
                return fn()
            finally:
                with self._lock:
                    self._running -= 1
                    self._in_flight -= 1
                    self._durations.append(time.perf_counter() - started)

        try:
            return self._executor.submit(job)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._in_flight -= 1
            raise BusyError("the server is shutting down", retry_after_s=5) from None

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def shutdown(self) -> None:
        """Stop taking jobs, drop queued ones; running ones finish (they see their cancel events)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)


Item = tuple[Literal["event", "error", "cancelled", "end"], object]


class EventBridge(Generic[T]):
    """Run ``produce(cancel)`` (a blocking iterator) in ``pool``; read its events with :meth:`events`."""

    def __init__(self, pool: GenerationPool, produce: Callable[[threading.Event], Iterator[T]]) -> None:
        self.cancel = threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()
        self._queue = queue

        def put(item: Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (server stopped)
                self.cancel.set()

        def work() -> None:
            try:
                for event in produce(self.cancel):
                    put(("event", event))
                    if self.cancel.is_set():
                        raise GenerationCancelled("consumer went away")
            except GenerationCancelled:
                put(("cancelled", None))
            except BaseException as exc:  # handed to the consumer, which reports it in an error frame
                put(("error", exc))
            else:
                put(("end", None))

        self.future = pool.submit(work)  # BusyError here → the route answers 503 before any byte is sent

    async def events(self, request: Request | None = None) -> AsyncGenerator[T | None, None]:
        """The events in order; ``None`` now and then as a keep-alive tick. Raises what the producer raised.

        Ends quietly when the client disconnects. Closing or cancelling this generator cancels the producer.
        """
        getter: asyncio.Future[Item] | None = None
        idle_since = time.monotonic()
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait({getter}, timeout=DISCONNECT_POLL_S)
                if not done:
                    if request is not None and await request.is_disconnected():
                        log.info("client disconnected; cancelling generation")
                        return
                    if time.monotonic() - idle_since >= KEEPALIVE_S:
                        idle_since = time.monotonic()
                        yield None
                    continue
                kind, value = getter.result()
                getter = None
                idle_since = time.monotonic()
                if kind == "event":
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise value
                else:  # "end", or "cancelled" (only after this side asked for it)
                    return
        finally:
            self.cancel.set()
            if getter is not None:
                getter.cancel()
