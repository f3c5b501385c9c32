"""Dependencies of the routes, as ``Annotated`` aliases: the app state, settings, engine, pool, and access checks.

Keys: ``Authorization: Bearer <key>`` checked against ``settings.api_keys`` with ``hmac.compare_digest`` (every
configured key is compared, so the time taken does not depend on which one matched). A key may be scoped to
collections (``KEY:c1+c2``, ``KEY:*``, ``read:`` items for read-only; see ``KeyScope``): routes check the
collection they touch with ``Access.check_read``/``check_write``. Keys are never logged or
echoed. Write routes always need a key; with none configured they are refused (403) with how to set one. Read
routes need one only when ``settings.read_requires_key``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError, not_ready
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
        raise not_ready(state.not_ready_reason)
    return state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_pool(state: StateDep) -> GenerationPool:
    if state.pool is None:
        raise not_ready(state.not_ready_reason)
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


ALL = "*"


@dataclass(frozen=True)
class KeyScope:
    """What one API key may touch: collection names, or ``*`` for all of them.

    ``RAGQA_API_KEYS`` entries are ``KEY`` (every collection, as before), ``KEY:*``, ``KEY:c1+c2`` (read and
    write c1 and c2), and items prefixed ``read:`` for read-only access, e.g. ``KEY:risk+read:ops`` or
    ``KEY:read:*``. Read scopes only matter when ``read_requires_key`` is on (otherwise reads are open)."""

    read: frozenset[str]
    write: frozenset[str]

    def may_read(self, collection: str) -> bool:
        return ALL in self.read or collection in self.read or self.may_write(collection)

    def may_write(self, collection: str) -> bool:
        return ALL in self.write or collection in self.write


def parse_key(entry: str) -> tuple[str, KeyScope]:
    """``KEY[:SCOPE]`` → (key, scope); a bare key may read and write every collection."""
    key, sep, scope = entry.partition(":")
    if not sep:
        return key, KeyScope(frozenset({ALL}), frozenset({ALL}))
    read: set[str] = set()
    write: set[str] = set()
    for item in scope.split("+"):
        item = item.strip()
        if item.startswith("read:"):
            read.add(item[len("read:") :].strip())
        elif item:
            write.add(item)
    return key, KeyScope(frozenset(read - {""}), frozenset(write))


@dataclass(frozen=True)
class Access:
    """The caller's access, from its API key (``scope`` None: no key was needed and none was checked)."""

    scope: KeyScope | None
    what: str

    def check_read(self, collection: str) -> None:
        if self.scope is not None and not self.scope.may_read(collection):
            raise ApiError(403, "forbidden", f"this API key may not read collection {collection!r}")

    def check_write(self, collection: str) -> None:
        if self.scope is not None and not self.scope.may_write(collection):
            raise ApiError(403, "forbidden", f"this API key may not write to collection {collection!r}")


def _check_key(request: Request, settings: Settings, what: str) -> KeyScope:
    if not settings.api_keys:
        raise ApiError(403, "forbidden", f"{what} need an API key and none is configured: {KEY_HELP}")
    given = _bearer(request).encode("utf-8")
    matched: KeyScope | None = None
    for entry in settings.api_keys:
        key, scope = parse_key(entry.get_secret_value())
        if hmac.compare_digest(given, key.encode("utf-8")) and matched is None:
            matched = scope
    if matched is None:
        raise ApiError(401, "unauthorized", "invalid API key", {"WWW-Authenticate": "Bearer"})
    return matched


def require_write_key(request: Request, settings: SettingsDep) -> Access:
    return Access(_check_key(request, settings, "changes to the index"), "write")


def require_read_key(request: Request, settings: SettingsDep) -> Access:
    if settings.read_requires_key:
        return Access(_check_key(request, settings, "reads (read_requires_key is on)"), "read")
    return Access(None, "read")


WriteAccess = Annotated[Access, Depends(require_write_key)]
ReadAccess = Annotated[Access, Depends(require_read_key)]
