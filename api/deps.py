"""Dependencies of the routes, as ``Annotated`` aliases: the app state, settings, engine, pool, and access checks.

Keys: ``Authorization: Bearer <key>`` checked against ``settings.api_keys`` with ``hmac.compare_digest`` (every
configured key is compared, so the time taken does not depend on which one matched). Keys are never logged or
echoed. Write routes always need a key; with none configured they are refused (403) with how to set one. Read
routes need one only when ``settings.read_requires_key``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.generation import GenerationPool
from api.state import AppState
from rag.engine import Engine
from rag.settings import Settings

KEY_HELP = "set RAGQA_API_KEYS=key1,key2 in the server's environment (or .env) and restart it"


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ragqa
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_engine(state: StateDep) -> Engine:
    if state.engine is None:
        raise ApiError(503, "not_ready", f"the service is not ready: {state.not_ready_reason}", {"Retry-After": "5"})
    return state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_pool(state: StateDep) -> GenerationPool:
    if state.pool is None:
        raise ApiError(503, "not_ready", f"the service is not ready: {state.not_ready_reason}", {"Retry-After": "5"})
    return state.pool


PoolDep = Annotated[GenerationPool, Depends(get_pool)]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send the header 'Authorization: Bearer <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _check_key(request: Request, settings: Settings, what: str) -> None:
    if not settings.api_keys:
        raise ApiError(403, "forbidden", f"{what} need an API key and none is configured: {KEY_HELP}")
    given = _bearer(request).encode("utf-8")
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode("utf-8"))
    if not matched:
        raise ApiError(401, "unauthorized", "invalid API key", {"WWW-Authenticate": "Bearer"})


def require_write_key(request: Request, settings: SettingsDep) -> None:
    _check_key(request, settings, "changes to the index")


def require_read_key(request: Request, settings: SettingsDep) -> None:
    if settings.read_requires_key:
        _check_key(request, settings, "reads (read_requires_key is on)")


WriteAccess = Annotated[None, Depends(require_write_key)]
ReadAccess = Annotated[None, Depends(require_read_key)]
