"""The operators an expression may use, each bounded before it runs, and the refused ones."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from flowscope.expressions._limits import (
    _SEQUENCES,
    _STEP_HINT,
    _SYNTAX_HINT,
    MAX_INT_BITS,
    MAX_POWER_EXPONENT,
    _check_length,
    _Fail,
    _short,
)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_length(a, len(a) + len(b))
    return a + b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_length(a, len(a) * b)
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_length(b, len(b) * a)
    elif (
        isinstance(a, int)
        and isinstance(b, int)
        and (a.bit_length() + b.bit_length() > MAX_INT_BITS)
    ):
        raise _Fail(f"the product would be an integer over {MAX_INT_BITS} bits", _STEP_HINT)
    return a * b


def _pow(a: Any, b: Any) -> Any:
    if isinstance(b, int) and isinstance(a, (int, float)):
        if abs(b) > MAX_POWER_EXPONENT:
            raise _Fail(f"the exponent {_short(b)} is over the limit of {MAX_POWER_EXPONENT}",
                        hint="use a smaller exponent")  # fmt: skip
        if isinstance(a, int) and b > 0 and abs(a) > 1 and a.bit_length() * b > MAX_INT_BITS:
            raise _Fail(f"the power would be an integer over {MAX_INT_BITS} bits", hint=_STEP_HINT)
    return a**b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise _Fail("'%' string formatting is not allowed",
                    hint="build strings with a template ('id-${{ x }}') or with +")  # fmt: skip
    return a % b


_BINARY: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: _add, ast.Sub: operator.sub, ast.Mult: _mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: _mod, ast.Pow: _pow,
}  # fmt: skip
_UNARY: dict[type[ast.AST], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}  # fmt: skip
_COMPARE: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}  # fmt: skip
_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&",
    ast.BitXor: "^", ast.MatMult: "@", ast.Invert: "~",
}  # fmt: skip
_LOOP_HINT = "use a function such as sum(), any(), all() or sorted(), or compute it in a step"
_REFUSED: dict[str, tuple[str, str]] = {
    "Lambda": ("lambda is not allowed", "call one of the allowed functions instead"),
    "ListComp": ("list comprehensions are not allowed", _LOOP_HINT),
    "SetComp": ("set comprehensions are not allowed", _LOOP_HINT),
    "DictComp": ("dict comprehensions are not allowed", _LOOP_HINT),
    "GeneratorExp": ("generator expressions are not allowed", _LOOP_HINT),
    "NamedExpr": ("assignment with ':=' is not allowed", "set run variables with `set`"),
    "JoinedStr": ("f-strings are not allowed", "use a template ('id-${{ x }}') or +"),
    "Starred": ("'*' unpacking is not allowed", "pass the values one by one"),
    "Await": ("'await' is not allowed", _SYNTAX_HINT),
    "Yield": ("'yield' is not allowed", _SYNTAX_HINT),
    "YieldFrom": ("'yield from' is not allowed", _SYNTAX_HINT),
}
