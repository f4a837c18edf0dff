"""Compile an expression's AST, node by whitelisted node, into nested closures."""

from __future__ import annotations

import ast
import functools
import warnings
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from flowscope.errors import ExpressionError, ExpressionEvalError, ExpressionSyntaxError
from flowscope.expressions._functions import (
    _FUNCTION_LIST,
    _USAGE,
    ALLOWED_FUNCTIONS,
    _check_call,
)
from flowscope.expressions._limits import (
    _STEP_HINT,
    _SYNTAX_HINT,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    _describe,
    _Fail,
    _Fn,
    _Scope,
    _short,
    _syntax,
    _type_name,
)
from flowscope.expressions._operators import (
    _BINARY,
    _COMPARE,
    _REFUSED,
    _REFUSED_OPERATORS,
    _UNARY,
)
from flowscope.expressions._values import _lookup, _to_text

_CONSTANT_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}


def _label(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_singleton(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None or node.value is True or node.value is False
    return isinstance(node, ast.Name) and node.id in _CONSTANT_NAMES


class _Compiler:
    """Turn a parsed expression into nested closures; one instance per expression."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: set[str] = set()

    def refuse(self, message: str, hint: str = _SYNTAX_HINT) -> ExpressionSyntaxError:
        return _syntax(message, self.source, hint)

    def compile(self, node: ast.AST, depth: int) -> _Fn:
        if depth > MAX_DEPTH:
            raise self.refuse(f"the expression nests deeper than {MAX_DEPTH} levels", _STEP_HINT)
        kind = type(node).__name__
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise self.refuse(*_REFUSED.get(kind, (f"{kind} is not allowed", _SYNTAX_HINT)))
        fn: _Fn = method(node, depth + 1)
        return fn

    def check_name(self, name: str) -> None:
        if name.startswith("_"):
            raise self.refuse(
                f"names and attributes starting with '_' are not allowed: {name!r}",
                "private and special names can never be read from expressions",
            )

    def _Constant(self, node: ast.Constant, depth: int) -> _Fn:
        value = node.value
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise self.refuse(f"{type(value).__name__} literals are not allowed",
                              "use numbers, strings, true, false and null")  # fmt: skip
        return lambda scope: value

    def _Name(self, node: ast.Name, depth: int) -> _Fn:
        name = node.id
        if name in _CONSTANT_NAMES:
            value = _CONSTANT_NAMES[name]
            return lambda scope: value
        self.names.add(name)

        def load(scope: _Scope) -> Any:
            try:
                return scope[name]
            except KeyError:
                known = ", ".join(sorted(str(k) for k in islice(scope, 50))) or "none"
                raise _Fail(f"unknown name {name!r}", hint=f"known names: {known}") from None

        return load

    def _Attribute(self, node: ast.Attribute, depth: int) -> _Fn:
        key = node.attr
        target, label = self.compile(node.value, depth), _label(node.value)
        return lambda scope: _lookup(target(scope), key, label, True)

    def _Subscript(self, node: ast.Subscript, depth: int) -> _Fn:
        target, label = self.compile(node.value, depth), _label(node.value)
        if not isinstance(node.slice, ast.Slice):
            index = self.compile(node.slice, depth)
            return lambda scope: _lookup(target(scope), index(scope), label, False)
        bounds = (node.slice.lower, node.slice.upper, node.slice.step)
        parts = [None if bound is None else self.compile(bound, depth) for bound in bounds]

        def cut(scope: _Scope) -> Any:
            obj = target(scope)
            if not isinstance(obj, (str, list, tuple)):
                raise _Fail(f"cannot slice {label}: it is a {_type_name(obj)}",
                            hint="slices work on strings, lists and tuples")  # fmt: skip
            low, high, step = (None if part is None else part(scope) for part in parts)
            return obj[low:high:step]

        return cut

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> _Fn:
        first, *rest = [self.compile(value, depth) for value in node.values]
        stop = not isinstance(node.op, ast.And)  # `and` stops at a falsy value, `or` at a truthy

        def boolean(scope: _Scope) -> Any:
            value = first(scope)
            for fn in rest:
                if bool(value) is stop:
                    return value
                value = fn(scope)
            return value

        return boolean

    def _BinOp(self, node: ast.BinOp, depth: int) -> _Fn:
        op = _BINARY.get(type(node.op))
        if op is None:
            symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise self.refuse(f"the operator {symbol!r} is not allowed",
                              "use + - * / // % ** and comparisons")  # fmt: skip
        left, right = self.compile(node.left, depth), self.compile(node.right, depth)
        return lambda scope: op(left(scope), right(scope))

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> _Fn:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self.refuse("the operator '~' is not allowed", "use -, + and not")
        operand = self.compile(node.operand, depth)
        return lambda scope: op(operand(scope))

    def _Compare(self, node: ast.Compare, depth: int) -> _Fn:
        operands = [node.left, *node.comparators]
        for i, op_node in enumerate(node.ops):
            if isinstance(op_node, (ast.Is, ast.IsNot)) and not (
                _is_singleton(operands[i]) or _is_singleton(operands[i + 1])
            ):
                raise self.refuse("'is' may only compare with null, true or false",
                                  "use == to compare values")  # fmt: skip
        ops = [_COMPARE[type(op_node)] for op_node in node.ops]
        first, *others = [self.compile(operand, depth) for operand in operands]
        if len(ops) == 1:  # the common case, without the loop
            op, second = ops[0], others[0]
            return lambda scope: op(first(scope), second(scope))
        pairs = list(zip(ops, others, strict=True))

        def chain(scope: _Scope) -> Any:
            left, result = first(scope), True
            for compare, fn in pairs:
                right = fn(scope)
                result = compare(left, right)
                if not result:
                    return result
                left = right
            return result

        return chain

    def _IfExp(self, node: ast.IfExp, depth: int) -> _Fn:
        test, body = self.compile(node.test, depth), self.compile(node.body, depth)
        orelse = self.compile(node.orelse, depth)
        return lambda scope: body(scope) if test(scope) else orelse(scope)

    def _List(self, node: ast.List | ast.Tuple | ast.Set, depth: int) -> _Fn:
        items = [self.compile(element, depth) for element in node.elts]
        if isinstance(node, ast.List):
            return lambda scope: [fn(scope) for fn in items]
        build = tuple if isinstance(node, ast.Tuple) else set
        return lambda scope: build(fn(scope) for fn in items)

    _Tuple = _Set = _List

    def _Dict(self, node: ast.Dict, depth: int) -> _Fn:
        if None in node.keys:
            raise self.refuse("'**' unpacking is not allowed", "write the keys one by one")
        pairs = [
            (self.compile(key, depth), self.compile(value, depth))
            for key, value in zip(node.keys, node.values, strict=True)
            if key is not None
        ]
        return lambda scope: {key(scope): value(scope) for key, value in pairs}

    def _Call(self, node: ast.Call, depth: int) -> _Fn:
        if not isinstance(node.func, ast.Name):
            raise self.refuse(
                f"calling {_label(node.func)}(...) is not allowed: only the allowed functions "
                "can be called, by bare name (there are no method calls)",
                f"write e.g. lower(s) rather than s.lower(); allowed: {_FUNCTION_LIST}",
            )
        name = node.func.id
        function = ALLOWED_FUNCTIONS.get(name)
        if function is None:
            raise self.refuse(f"the function {name!r} is not allowed",
                              f"allowed functions: {_FUNCTION_LIST}")  # fmt: skip
        args = [self.compile(arg, depth) for arg in node.args]
        if any(keyword.arg is None for keyword in node.keywords):
            raise self.refuse("'**' unpacking is not allowed", "pass keyword arguments by name")
        kwargs = [(str(kw.arg), self.compile(kw.value, depth)) for kw in node.keywords]
        problem = _check_call(name, len(args), [key for key, _ in kwargs])
        if problem:
            raise self.refuse(f"bad arguments to {name}(): {problem}", f"call {_USAGE[name]}")

        def call(scope: _Scope) -> Any:
            values = [fn(scope) for fn in args]
            named = {key: fn(scope) for key, fn in kwargs}
            try:
                return function(*values, **named)
            except _Fail:
                raise
            except Exception as exc:
                message = f"{name}() failed: {_describe(exc)}"
                raise _Fail(message, hint=f"call {_USAGE[name]}") from exc

        return call


def _outside_strings(text: str, start: int) -> Iterator[tuple[int, str]]:
    """Yield ``(index, char)`` for the characters of ``text[start:]`` outside string literals."""
    i, n = start, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            quote = char * 3 if text.startswith(char * 3, i) else char
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if text[i] == "\\" else 1
            i += len(quote)
            continue
        yield i, char
        i += 1


def _find_close(text: str, start: int, close: str) -> int:
    """Index of ``close`` outside strings and brackets from ``start``, or -1."""
    depth = 0
    for i, char in _outside_strings(text, start):
        if depth == 0 and text.startswith(close, i):
            return i
        depth += (char in "([{") - (depth > 0 and char in ")]}")
    return -1


def _unwrap(source: str) -> str:
    """Strip one ``${{ }}`` around the whole source, if there is one."""
    body = source.strip()
    if body.startswith("${{") and _find_close(body, 3, "}}") == len(body) - 2:
        return body[3:-2]
    return source


def _parse(source: str, body: str) -> ast.Expression:
    hint = "wrap only a whole expression in ${{ }}" if "${{" in body else _SYNTAX_HINT
    # Invalid escapes and `is` with a literal only warn; under `-W error` they would raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(body, mode="eval")
        except SyntaxError as exc:
            where = f" (column {exc.offset})" if exc.offset else ""
            error = _syntax(f"invalid syntax: {exc.msg}{where}", source, hint)
        except Exception as exc:  # ValueError for NUL bytes, MemoryError for "too complex"
            raise _syntax(f"the expression cannot be parsed: {_describe(exc)}", source) from None
        if "\n" in body:  # a multi-line expression, as YAML block scalars write them
            try:
                return ast.parse(f"({body}\n)", mode="eval")
            except Exception:
                pass
        raise error


def compile_expression(source: str) -> Expression:
    """Compile an expression, bare or wrapped whole in ``${{ }}``.

    Raises:
        ExpressionSyntaxError: It does not parse, uses a refused construct or passes a limit.
    """
    if not isinstance(source, str):
        raise _syntax(f"an expression must be a string, not {_type_name(source)}",
                      _short(source), "quote the expression")  # fmt: skip
    if len(source) > MAX_SOURCE_LENGTH:
        raise _syntax(f"the expression is {len(source)} characters long, over the limit of "
                      f"{MAX_SOURCE_LENGTH}", source[:60] + "...", _STEP_HINT)  # fmt: skip
    body = _unwrap(source).strip()
    if not body:
        raise _syntax("the expression is empty", source, "write e.g. ${{ inputs.name }}")
    tree = _parse(source, body)
    compiler = _Compiler(source)
    for count, node in enumerate(ast.walk(tree)):
        if count >= MAX_NODES:
            raise compiler.refuse(f"the expression has more than {MAX_NODES} parts", _STEP_HINT)
        # Refuse private names before anything else, so escapes get the plainest message.
        if isinstance(node, ast.Name | ast.Attribute):
            compiler.check_name(node.id if isinstance(node, ast.Name) else node.attr)
    try:
        fn = compiler.compile(tree.body, 1)
    except ExpressionError:
        raise
    except Exception as exc:  # a safety net: compiling raises nothing but syntax errors
        raise compiler.refuse(f"the expression cannot be compiled: {_describe(exc)}") from exc
    return Expression(source, frozenset(compiler.names), fn)


def _eval_error(exc: Exception, source: str) -> ExpressionEvalError:
    if isinstance(exc, _Fail):
        message, hint = exc.message, exc.hint
    elif isinstance(exc, ZeroDivisionError):
        message, hint = "division by zero", "guard the divisor, e.g. a / b if b else 0"
    else:
        message, hint = _describe(exc), "check the types and values the expression works on"
    return ExpressionEvalError(message, expression=source, hint=hint)


class Expression:
    """A compiled expression: checked and compiled once, evaluated many times.

    Attributes:
        source: The text it was compiled from.
        names: The top-level names it reads from the scope, e.g. ``{"inputs", "steps"}``.
    """

    __slots__ = ("_fn", "names", "source")

    def __init__(self, source: str, names: frozenset[str], fn: _Fn) -> None:
        self.source, self.names, self._fn = source, names, fn

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """Evaluate over ``scope``; raise ExpressionEvalError on any failure."""
        try:
            return self._fn(scope)
        except ExpressionError:
            raise
        except Exception as exc:
            raise _eval_error(exc, self.source) from (None if isinstance(exc, _Fail) else exc)

    def _text(self, scope: Mapping[str, Any], null: str = "") -> str:
        """Evaluate, and turn the value into template text."""
        value = self.evaluate(scope)
        try:
            return null if value is None else _to_text(value)
        except Exception as exc:
            raise _eval_error(exc, self.source) from None


def compile_condition(source: str | bool | None) -> Expression | None:
    """Compile a condition: ``"${{ expr }}"``, a bare ``"expr"`` or a bool; None gives None.

    Raises:
        ExpressionSyntaxError: The condition is not one valid expression.
    """
    if source is None:
        return None
    if isinstance(source, bool):
        constant = source
        return Expression("true" if source else "false", frozenset(), lambda scope: constant)
    if not isinstance(source, str):
        raise _syntax(f"a condition must be a string or a bool, not {_type_name(source)}",
                      _short(source), "write e.g. ${{ inputs.enabled }} or true")  # fmt: skip
    return compile_expression(source)


_cached_expression = functools.lru_cache(maxsize=1024)(compile_expression)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Compile (cached by source) and evaluate an expression.

    Raises:
        ExpressionSyntaxError: The expression is invalid.
        ExpressionEvalError: Evaluating it failed.
    """
    compiled = _cached_expression(source) if isinstance(source, str) else compile_expression(source)
    return compiled.evaluate(scope)
