"""Metadata conditions for retrieval: ``--where key=value`` (CLI, repeatable) and ``{"meta": {key: value | [values]}}``
(API) become the ``meta`` of an ``index.ChunkFilter``: all keys must match, a key with several values matches
any of them (``in``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rag.documents import MAX_META_VALUE_CHARS, META_KEY_RE
from rag.errors import BadInputError

MetaCondition = tuple[tuple[str, tuple[str, ...]], ...]
MAX_CONDITIONS = 20
MAX_VALUES = 100


def meta_condition(meta: Mapping[str, str | Sequence[str]]) -> MetaCondition:
    """``{key: value}`` (equality) or ``{key: [v1, v2]}`` (``in``) as a filter condition; ``BadInputError`` if bad."""
    if len(meta) > MAX_CONDITIONS:
        raise BadInputError(f"too many metadata conditions ({len(meta)} > {MAX_CONDITIONS})")
    out: list[tuple[str, tuple[str, ...]]] = []
    for key, value in sorted(meta.items()):
        if not META_KEY_RE.fullmatch(key):
            raise BadInputError(f"bad metadata key {key!r} in a filter: a letter, then letters, digits, '_', '.', '-'")
        values = (value,) if isinstance(value, str) else tuple(value)
        if not values:
            raise BadInputError(f"metadata filter {key!r} has an empty list of values")
        if len(values) > MAX_VALUES:
            raise BadInputError(f"metadata filter {key!r} has too many values ({len(values)} > {MAX_VALUES})")
        if any(not isinstance(v, str) or len(v) > MAX_META_VALUE_CHARS for v in values):
            raise BadInputError(f"metadata filter {key!r}: values must be text of at most {MAX_META_VALUE_CHARS}")
        out.append((key, tuple(dict.fromkeys(values))))
    return tuple(out)


def parse_pairs(items: Iterable[str], what: str) -> dict[str, list[str]]:
    """``["team=risk", "team=ops", "year=2024"]`` → ``{"team": ["risk", "ops"], "year": ["2024"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInputError(f"{what} {item!r}: expected key=value")
        out.setdefault(key, []).append(value)
    return out


def parse_where(items: Iterable[str]) -> MetaCondition:
    """CLI/query ``--where key=value`` items: several for one key mean ``in``, different keys must all hold."""
    return meta_condition(parse_pairs(items, "--where"))


def parse_meta(items: Iterable[str]) -> dict[str, str]:
    """CLI ``--meta key=value`` items as metadata (a key given twice keeps the last value)."""
    from rag.documents import check_meta

    return check_meta({k: v[-1] for k, v in parse_pairs(items, "--meta").items()})
