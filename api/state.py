"""What the app keeps for its lifetime, on ``app.state.ragqa`` (typed, set up by ``create_app`` and the lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from api.generation import GenerationPool
from api.metrics import Metrics
from api.ratelimit import RateLimiter
from index.feedback import FeedbackStore
from rag.engine import Engine
from rag.settings import Settings


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    limiter: RateLimiter
    engine: Engine | None = None
    pool: GenerationPool | None = None
    owns_engine: bool = False
    not_ready_reason: str = "starting"
    feedback: FeedbackStore | None = None  # answers served + 👍/👎 on them (``feedback.sqlite3``)
