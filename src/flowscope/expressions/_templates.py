"""Templates over JSON-like values, and the ``{expr}`` messages of logpoints."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from flowscope.errors import ExpressionError, ExpressionEvalError
from flowscope.expressions._compiler import Expression, _find_close, compile_expression
from flowscope.expressions._limits import (
    _STEP_HINT,
    MAX_STRING_LENGTH,
    _Fn,
    _Scope,
    _short,
    _syntax,
    _type_name,
)
from flowscope.expressions._values import _copy


class Template:
    """A compiled template over a JSON-like value (str, dict, list, scalars).

    Attributes:
        source: The raw value it was compiled from.
        is_constant: True when it holds no ``${{ }}`` anywhere.
        expressions: Its expressions, in order.
    """

    __slots__ = ("_render", "expressions", "is_constant", "source")

    def __init__(self, source: Any, expressions: tuple[Expression, ...], fn: _Fn | None) -> None:
        self.source, self.expressions, self._render = source, expressions, fn
        self.is_constant = fn is None

    def __repr__(self) -> str:
        return f"Template({_short(self.source)}, expressions={len(self.expressions)})"

    def render(self, scope: Mapping[str, Any]) -> Any:
        """Render over ``scope``; dicts and lists come back as fresh containers."""
        return _copy(self.source) if self._render is None else self._render(scope)


def _compile_string(text: str, found: list[Expression]) -> _Fn | None:
    if "${{" not in text:
        return None
    parts: list[str | Expression] = []
    pos = 0
    while (start := text.find("${{", pos)) >= 0:
        end = _find_close(text, start + 3, "}}")
        if end < 0:
            raise _syntax("unterminated '${{'", text[start:], "close the expression with '}}'")
        parts += [text[pos:start], compile_expression(text[start + 3 : end])]
        pos = end + 2
    parts = [part for part in [*parts, text[pos:]] if part != ""]
    expressions = [part for part in parts if isinstance(part, Expression)]
    found.extend(expressions)
    if len(expressions) == 1 and all(isinstance(p, Expression) or not p.strip() for p in parts):
        return expressions[0].evaluate  # the whole string: the value keeps its type

    def interpolate(scope: _Scope) -> str:
        out, total = [], 0
        for part in parts:
            out.append(part if isinstance(part, str) else part._text(scope))
            total += len(out[-1])
            if total > MAX_STRING_LENGTH:
                message = f"the rendered string is over {MAX_STRING_LENGTH} characters"
                raise ExpressionEvalError(message, expression=text[:200], hint=_STEP_HINT)
        return "".join(out)

    return interpolate


def _compile_value(value: Any, found: list[Expression], depth: int) -> _Fn | None:
    """Return a renderer for ``value``, or None when it is constant."""
    if depth > 100:
        raise _syntax("the template nests deeper than 100 levels", _short(value), "flatten it")
    if isinstance(value, str):
        return _compile_string(value, found)
    if isinstance(value, Mapping):
        fns = {key: _compile_value(item, found, depth + 1) for key, item in value.items()}
        if all(fn is None for fn in fns.values()):
            return None
        pairs = [(key, fn or _constant(value[key])) for key, fn in fns.items()]
        return lambda scope: {key: fn(scope) for key, fn in pairs}
    if isinstance(value, (list, tuple)):
        items = [_compile_value(item, found, depth + 1) for item in value]
        if all(fn is None for fn in items):
            return None
        fns_ = [fn or _constant(item) for item, fn in zip(value, items, strict=True)]
        if isinstance(value, tuple):
            return lambda scope: tuple(fn(scope) for fn in fns_)
        return lambda scope: [fn(scope) for fn in fns_]
    return None


def _constant(value: Any) -> _Fn:
    if isinstance(value, (Mapping, list, tuple)):
        return lambda scope: _copy(value)
    return lambda scope: value


def compile_template(value: Any) -> Template:
    """Compile a template: strings may hold ``${{ expr }}``; dict values and list items recurse.

    A string that is exactly one ``${{ expr }}`` (whitespace around it allowed) renders to
    the value with its type; otherwise each expression is interpolated as text. Dict keys
    are never templated.

    Raises:
        ExpressionSyntaxError: An expression is invalid, or a ``${{`` is not closed.
    """
    found: list[Expression] = []
    fn = _compile_value(value, found, 0)
    return Template(value, tuple(found), fn)


_cached_template = functools.lru_cache(maxsize=1024)(compile_template)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Compile ``value`` as a template (cached for strings) and render it over ``scope``."""
    template = _cached_template(value) if isinstance(value, str) else compile_template(value)
    return template.render(scope)


@functools.lru_cache(maxsize=256)
def _split_braces(message: str) -> tuple[str | Expression, ...]:
    parts: list[str | Expression] = []
    text: list[str] = []
    i = 0
    while i < len(message):
        char = message[i]
        if char in "{}" and message.startswith(char * 2, i):
            text.append(char)
            i += 2
        elif char == "{":
            end = _find_close(message, i + 1, "}")
            if end < 0:
                raise _syntax("unterminated '{' in a log message", message[i:],
                              "close it with '}', or write '{{' for a literal brace")  # fmt: skip
            parts += ["".join(text), compile_expression(message[i + 1 : end])]
            text, i = [], end + 1
        elif char == "}":
            raise _syntax("single '}' in a log message", message, "write '}}' for a literal brace")
        else:
            text.append(char)
            i += 1
    return tuple(part for part in [*parts, "".join(text)] if part != "")


def check_braces(message: str) -> None:
    """Check the ``{expr}`` parts of a logpoint message when it is set.

    Raises:
        ExpressionSyntaxError: A part is not a valid expression, or a brace is unbalanced.
    """
    if not isinstance(message, str):
        raise _syntax(f"a log message must be a string, not {_type_name(message)}",
                      _short(message), "quote the message")  # fmt: skip
    _split_braces(message)


def interpolate_braces(message: str, scope: Mapping[str, Any]) -> str:
    """Render a logpoint message: each ``{expr}`` is evaluated and shown as text.

    ``{{`` and ``}}`` are literal braces and ``null`` shows as ``null``. An expression that
    fails to evaluate shows as ``<error: ...>`` instead of raising.

    Raises:
        ExpressionSyntaxError: The message is malformed (see :func:`check_braces`).
    """
    check_braces(message)
    out: list[str] = []
    for part in _split_braces(message):
        try:
            out.append(part if isinstance(part, str) else part._text(scope, null="null"))
        except ExpressionError as exc:
            out.append(f"<error: {exc.message}>")
    text = "".join(out)
    return text if len(text) <= MAX_STRING_LENGTH else text[:MAX_STRING_LENGTH] + "..."
