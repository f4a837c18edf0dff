"""The run-time bounds of expressions, the failure raised inside closures, and size checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flowscope.errors import ExpressionSyntaxError

MAX_SOURCE_LENGTH = 10_000  # characters of one expression's source
MAX_STRING_LENGTH = 1_000_000  # characters of a string built, or of a value turned into text
MAX_COLLECTION_LENGTH = 100_000  # items of a list or tuple built by an expression
MAX_POWER_EXPONENT = 10_000  # largest absolute integer exponent of **
MAX_INT_BITS = 65_536  # largest integer * and ** may build, or text may show
MAX_NODES = 1_000  # AST nodes of one expression, as ast.walk counts them
MAX_DEPTH = 64  # nesting of operations in one expression

_Scope = Mapping[str, Any]
_Fn = Callable[[_Scope], Any]
_SEQUENCES = (str, bytes, list, tuple)
_SYNTAX_HINT = "use literals, names, . and [] access, operators and the allowed functions"
_STEP_HINT = "work on smaller values, or compute this in a step"


class _Fail(Exception):
    """A failure inside a closure; ``Expression.evaluate`` adds the source."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def _syntax(message: str, expression: str, hint: str = _SYNTAX_HINT) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(message, expression=expression[:300], hint=hint)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return "mapping" if isinstance(value, Mapping) else type(value).__name__


def _short(value: Any) -> str:
    """Show a value in a message: bounded, and never raising."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<integer of {value.bit_length()} bits>"
    if value is None or isinstance(value, (int, float)):
        return repr(value)
    return f"<{_type_name(value)}>"


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def _check_length(sample: Any, length: int) -> None:
    """Refuse a result of ``length`` characters or items before it is built."""
    textual = isinstance(sample, (str, bytes))
    limit = MAX_STRING_LENGTH if textual else MAX_COLLECTION_LENGTH
    if length > limit:
        unit = "characters" if textual else "items"
        raise _Fail(f"the result would have {_short(length)} {unit}, over the limit of {limit}",
                    hint=_STEP_HINT)  # fmt: skip


def _check_text_size(value: Any) -> None:
    """Refuse turning ``value`` into text when the text could pass MAX_STRING_LENGTH.

    The walk spends a budget, so shared or cyclic structures (``[[1] * 1000] * 1000``) are
    refused after bounded work instead of being rendered.
    """
    budget, stack = MAX_STRING_LENGTH, [value]
    while stack and budget >= 0:
        item = stack.pop()
        if isinstance(item, str):
            budget -= len(item) + 2
        elif isinstance(item, Mapping):
            budget -= 2 * len(item) + 2
            if budget >= 0:
                for pair in item.items():
                    stack += pair
        elif isinstance(item, (list, tuple, set, frozenset)):
            budget -= len(item) + 2
            if budget >= 0:
                stack.extend(item)
        else:
            budget -= item.bit_length() // 3 + 2 if isinstance(item, int) else 24
    if budget < 0:
        raise _Fail(
            f"the value is too large to turn into text (over {MAX_STRING_LENGTH} characters)",
            hint="pass it whole ('${{ x }}') or select a part of it",
        )
