"""Prompt templates are data: ``rag/prompts/<name>.txt``, rendered with every variable required."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from rag.models.generator import ChatMessage

_DIR = Path(__file__).parent / "prompts"
_SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_VARIABLE = re.compile(r"\{(\w+)\}")


@cache
def load_template(name: str) -> list[tuple[str, str]]:
    """The template as (role, text) sections, from lines ``[system]`` / ``[user]`` / ``[assistant]``."""
    return parse_template((_DIR / f"{name}.txt").read_text(encoding="utf-8"), name)


def parse_template(raw: str, name: str = "<text>") -> list[tuple[str, str]]:
    """(role, text) sections of a template's text."""
    parts = _SECTION.split(raw)
    sections = [(parts[i], parts[i + 1].strip("\n")) for i in range(1, len(parts) - 1, 2)]
    if not sections:
        raise ValueError(f"prompt template {name!r} has no [system]/[user] sections")
    return sections


def required_variables(name: str) -> set[str]:
    return _variables(load_template(name))


def _variables(sections: list[tuple[str, str]]) -> set[str]:
    return {v for _, text in sections for v in _VARIABLE.findall(text)}


def render(name: str, **variables: str) -> list[ChatMessage]:
    """Render template ``name``; every variable it names must be given, and no others."""
    return render_template(load_template(name), name, **variables)


def render_template(sections: list[tuple[str, str]], name: str = "<text>", **variables: str) -> list[ChatMessage]:
    """Render a template's (role, text) sections; every variable they name must be given, and no others."""
    needed = _variables(sections)
    missing, extra = needed - variables.keys(), variables.keys() - needed
    if missing or extra:
        raise ValueError(f"prompt {name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return [ChatMessage(role, _VARIABLE.sub(lambda m: variables[m.group(1)], text)) for role, text in sections]
