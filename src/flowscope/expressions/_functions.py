"""The functions an expression may call, and the check of a call's arguments."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

from flowscope.expressions._limits import _check_length, _Fail, _type_name
from flowscope.expressions._values import _to_json, _to_text


def _text_arg(function: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _Fail(f"{function}() expects a string, got {_type_name(value)}")
    return value


def _mapping_arg(function: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _Fail(f"{function}() expects a mapping, got {_type_name(value)}")
    return value


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(10**60000, -10**9) would build 10**(10**9): bound the digits.
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 100):
        raise _Fail("round() takes ndigits as an integer between -100 and 100")
    return round(number, ndigits)


def _int(value: Any) -> int:
    if isinstance(value, (str, bytes)) and len(value) > 100:
        raise _Fail("int() refuses text longer than 100 characters")
    return int(value)


def _list(values: Any) -> list[Any]:
    result = list(values)
    _check_length(result, len(result))
    return result


def _get(container: Any, key: Any, default: Any = None) -> Any:
    if isinstance(container, Mapping):
        return container.get(key, default)
    if isinstance(container, (list, tuple, str)) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else default
    if container is None:  # so that get(get(x, "a"), "b") works when "a" is missing
        return default
    raise _Fail(f"get() expects a mapping, or a list and an integer; got {_type_name(container)}")


def _join(values: Any, sep: Any = "") -> str:
    separator, parts, total = _text_arg("join", sep), [], 0
    for value in values:
        parts.append(_to_text(value))
        total += len(parts[-1]) + len(separator)
        _check_length(separator, total)
    return separator.join(parts)


def _split(text: Any, sep: Any = None) -> list[str]:
    result = _text_arg("split", text).split(None if sep is None else _text_arg("split", sep))
    _check_length(result, len(result))
    return result


# Each function with its usage; the usage also drives the arity check at compile time
# (a parameter with "=" is optional and may be passed by keyword; "*" takes any number).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "len": (len, "len(value)"),
    "min": (lambda *v: min(v[0] if len(v) == 1 else v), "min(*values)"),
    "max": (lambda *v: max(v[0] if len(v) == 1 else v), "max(*values)"),
    "abs": (abs, "abs(number)"),
    "round": (_round, "round(number, ndigits=null)"),
    "str": (_to_text, "str(value)"),
    "int": (_int, "int(value)"),
    "float": (float, "float(value)"),
    "bool": (bool, "bool(value)"),
    "sum": (lambda values: sum(values), "sum(values)"),  # no `start`: sum(xs, []) is quadratic
    "any": (any, "any(values)"),
    "all": (all, "all(values)"),
    "sorted": (lambda v, reverse=False: sorted(v, reverse=bool(reverse)),
               "sorted(values, reverse=false)"),
    "list": (_list, "list(values)"),
    "keys": (lambda m: list(_mapping_arg("keys", m)), "keys(mapping)"),
    "values": (lambda m: list(_mapping_arg("values", m).values()), "values(mapping)"),
    "items": (lambda m: [list(i) for i in _mapping_arg("items", m).items()], "items(mapping)"),
    "get": (_get, "get(container, key, default=null)"),
    "coalesce": (lambda *v: next((x for x in v if x is not None), None), "coalesce(*values)"),
    "lower": (lambda s: _text_arg("lower", s).lower(), "lower(text)"),
    "upper": (lambda s: _text_arg("upper", s).upper(), "upper(text)"),
    "strip": (lambda s: _text_arg("strip", s).strip(), "strip(text)"),
    "startswith": (lambda s, p: _text_arg("startswith", s).startswith(_text_arg("startswith", p)),
                   "startswith(text, prefix)"),
    "endswith": (lambda s, p: _text_arg("endswith", s).endswith(_text_arg("endswith", p)),
                 "endswith(text, suffix)"),
    "contains": (lambda container, item: item in container, "contains(container, item)"),
    "join": (_join, 'join(values, sep="")'),
    "split": (_split, "split(text, sep=null)"),
    "json": (_to_json, "json(value)"),
}  # fmt: skip
ALLOWED_FUNCTIONS: Mapping[str, Callable[..., Any]] = types.MappingProxyType(
    {name: function for name, (function, _) in _FUNCTIONS.items()}
)
"""The functions an expression may call, by bare name (usages: the package docstring)."""
_USAGE = {name: usage for name, (_, usage) in _FUNCTIONS.items()}
_FUNCTION_LIST = ", ".join(sorted(ALLOWED_FUNCTIONS))


def _check_call(name: str, positional: int, keywords: list[str]) -> str | None:
    """Return what is wrong with calling ``name`` with these arguments, or None."""
    params = _USAGE[name][len(name) + 1 : -1].split(", ")
    if params[0].startswith("*"):
        return "it takes no keyword arguments" if keywords else None
    required = sum("=" not in p for p in params)
    if not required <= positional <= len(params):
        count = str(required) if required == len(params) else f"{required} to {len(params)}"
        return f"it takes {count} positional argument(s), got {positional}"
    optional = [p.split("=")[0] for p in params[max(positional, required) :]]
    unknown = [k for k in keywords if k not in optional]
    return f"unexpected keyword argument {unknown[0]!r}" if unknown else None
