"""Type aliases shared by every room.

This module imports nothing of Flowscope, so that any room (the engine included) may use
it. The aliases describe data, they check nothing: :mod:`flowscope.model.values` holds
the one function that checks and copies plain JSON data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
"""A JSON leaf: ``null``, a boolean, a number or a string."""

JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
"""Plain JSON data as Python holds it after a JSON round trip (tuples are lists)."""

JSONObject: TypeAlias = "dict[str, JSONValue]"
"""A JSON object: string keys to plain JSON data."""

JSONArray: TypeAlias = "list[JSONValue]"
"""A JSON array."""

JSONMapping: TypeAlias = "Mapping[str, JSONValue]"
"""A read-only view of a JSON object (what functions that only read one accept)."""

__all__ = ["JSONArray", "JSONMapping", "JSONObject", "JSONScalar", "JSONValue"]
