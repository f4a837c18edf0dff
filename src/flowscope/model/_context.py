"""Where a problem is in a definition, and how to say so: the context every validator uses.

A :class:`Context` knows the source file, the place prefix (for inline sub-workflows) and
the map from places (``steps[1].needs[0]``) to YAML lines, so that each check only names
the place and the fix.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from flowscope.errors import DefinitionError
from flowscope.model.inputs import type_name
from flowscope.model.values import plain_json
from flowscope.model.workflow import Workflow

__all__ = [
    "Context",
    "check_keys",
    "closest",
    "copy_plain",
    "did_you_mean",
    "key_place",
    "parent_place",
    "plain",
    "text_field",
]


@dataclass(frozen=True)
class Context:
    """What every check needs to name a place: source, line map, prefix and chain."""

    source: str | None
    base_dir: Path | None
    max_depth: int
    registry: Mapping[str, Workflow]
    lines: Mapping[str, int]
    chain: tuple[str, ...]
    """Workflows being loaded, outermost first (for recursion messages)."""
    prefix: str = ""
    """Place of this definition inside an enclosing one (inline sub-workflows)."""
    file: Path | None = field(default=None)

    def place(self, place: str) -> str:
        """Return ``place`` as seen from the outermost definition."""
        return f"{self.prefix}{place}" if self.prefix else place

    def line(self, place: str) -> int | None:
        """Return the line of ``place`` or of its nearest enclosing place, if known."""
        full = self.place(place)
        while full:
            if full in self.lines:
                return self.lines[full]
            full = parent_place(full)
        return None

    def error(
        self,
        message: str,
        place: str,
        hint: str | None = None,
        cls: type[DefinitionError] = DefinitionError,
    ) -> DefinitionError:
        """Return a DefinitionError (or ``cls``) for ``place``, with line and source."""
        return cls(
            message,
            place=self.place(place) or None,
            line=self.line(place),
            source=self.source,
            hint=hint,
        )

    def fail(
        self,
        message: str,
        place: str,
        hint: str | None = None,
        cls: type[DefinitionError] = DefinitionError,
    ) -> NoReturn:
        """Raise :meth:`error`."""
        raise self.error(message, place, hint, cls)


def parent_place(place: str) -> str:
    """Return the enclosing place (``steps[1].needs[0]`` -> ``steps[1].needs``)."""
    cut = max(place.rfind("."), place.rfind("["))
    return place[:cut] if cut > 0 else ""


def key_place(place: str, key: object) -> str:
    """Return the place of ``key`` inside ``place`` (bracketed when it is not a word)."""
    text = str(key)
    if re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return f"{place}.{text}" if place else text
    return f"{place}[{json.dumps(text)}]"


def closest(word: str, choices: Sequence[str]) -> str | None:
    """Return the choice closest to ``word``, if one is close enough."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Sequence[str], what: str) -> str:
    """Return a hint suggesting the closest choice and listing the valid ones."""
    best = closest(word, choices)
    valid = ", ".join(choices) if choices else "none"
    return (f"did you mean {best!r}? " if best else "") + f"valid {what}: {valid}"


def check_keys(
    data: Mapping[Any, Any], valid: Sequence[str], place: str, ctx: Context, what: str
) -> None:
    """Fail on the first key of ``data`` that is not in ``valid``."""
    for key in data:
        if key not in valid:
            ctx.fail(
                f"unknown key {str(key)!r}",
                key_place(place, key),
                hint=did_you_mean(str(key), valid, what),
            )


def text_field(value: Any, place: str, ctx: Context) -> str:
    """Return an optional free-text field as a string (``None``: empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        ctx.fail(f"`{place.rsplit('.', 1)[-1]}` must be a string, got {type_name(value)}", place)
    return value


def plain(value: Any, place: str, ctx: Context) -> Any:
    """Return ``value`` as JSON-ready dicts, lists and scalars, refusing anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            ctx.fail(f"{value} cannot be stored", place, hint="use a finite number")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                ctx.fail(
                    f"key {key!r} is not a string",
                    key_place(place, key),
                    hint="quote the key",
                )
            out[key] = plain(item, key_place(place, key), ctx)
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{place}[{i}]", ctx) for i, item in enumerate(value)]
    ctx.fail(
        f"a value of type {type(value).__name__} cannot be stored in a definition",
        place,
        hint="use strings, numbers, booleans, lists and mappings (quote dates in YAML)",
    )


def copy_plain(value: Any) -> Any:
    """Return a private copy of a value :func:`plain` accepted (tuples as lists)."""
    return plain_json(value, "a definition value")
