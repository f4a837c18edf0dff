"""Safe ``${{ ... }}`` expressions and templates over a run's state.

The language is a small subset of Python: literals (numbers, strings, lists, tuples, dicts,
sets; ``true``/``false``/``null`` besides ``True``/``False``/``None``), names read from the
scope (``inputs``, ``steps``, ``vars``...), dotted access on mappings
(``steps.fetch.output.id``), ``[]`` indexing and slicing, ``- + not``, ``+ - * / // % **``,
comparisons (chained; ``in``; ``is`` only against ``null``/``true``/``false``),
``and``/``or`` (returning an operand, as in Python), ``a if c else b`` and calls, by bare
name, to :data:`ALLOWED_FUNCTIONS`::

    len(value) min(*values) max(*values) abs(number) round(number, ndigits=null)
    str(value) int(value) float(value) bool(value) sum(values) any(values) all(values)
    sorted(values, reverse=false) list(values) keys(mapping) values(mapping) items(mapping)
    get(container, key, default=null) coalesce(*values) lower(text) upper(text) strip(text)
    startswith(text, prefix) endswith(text, suffix) contains(container, item)
    join(values, sep="") split(text, sep=null) json(value)

``str()``, ``join()`` and template interpolation share one text form: ``null`` is ``""``,
booleans are ``true``/``false``, mappings and lists are compact JSON. Method calls,
comprehensions, lambdas, f-strings, bitwise operators and any name or attribute starting
with ``_`` are refused when the expression is compiled.

Why our own AST whitelist rather than ``simpleeval`` (or ``eval``): user text goes through
``ast.parse`` only, never ``eval``/``exec``/``compile``. Each node is checked against the
whitelist and turned *once* into a closure, so evaluation is a chain of plain calls with no
tree walking: templates are compiled once per definition and rendered on the engine's hot
path, and a constant template costs nothing. Owning the walker also gives exact control of
the allowed set, of the messages (each refusal names the construct and the fix) and of the
run-time bounds, which are checked *before* the costly operation runs: see the ``MAX_*``
constants. Evaluation raises only :class:`ExpressionEvalError`; any other exception,
``RecursionError`` and ``MemoryError`` included, is wrapped.
"""

from __future__ import annotations

import ast
import functools
import json as _json
import operator
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any

from flowscope.errors import ExpressionError, ExpressionEvalError, ExpressionSyntaxError

__all__ = [
    "ALLOWED_FUNCTIONS", "MAX_COLLECTION_LENGTH", "MAX_DEPTH", "MAX_INT_BITS", "MAX_NODES",
    "MAX_POWER_EXPONENT", "MAX_SOURCE_LENGTH", "MAX_STRING_LENGTH", "Expression", "Template",
    "check_braces", "compile_condition", "compile_expression", "compile_template", "evaluate",
    "interpolate_braces", "render",
]  # fmt: skip

MAX_SOURCE_LENGTH = 10_000  # characters of one expression's source
MAX_STRING_LENGTH = 1_000_000  # characters of a string built, or of a value turned into text
MAX_COLLECTION_LENGTH = 100_000  # items of a list or tuple built by an expression
MAX_POWER_EXPONENT = 10_000  # largest absolute integer exponent of **
MAX_INT_BITS = 65_536  # largest integer * and ** may build, or text may show
MAX_NODES = 1_000  # AST nodes of one expression, as ast.walk counts them
MAX_DEPTH = 64  # nesting of operations in one expression

_Scope = Mapping[str, Any]
_Fn = Callable[[_Scope], Any]
_CONSTANT_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}
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


# -- values, text and bounds ---------------------------------------------------------------


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


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return list(value) if isinstance(value, (set, frozenset)) else str(value)


def _to_json(value: Any) -> str:
    _check_text_size(value)
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _to_text(value: Any) -> str:
    """The text form used by templates, ``str()`` and ``join()``."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return {None: "", True: "true", False: "false"}[value]
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _Fail(f"{_short(value)} is too large to turn into text")
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _to_json(value)
    return str(value)


def _copy(value: Any) -> Any:
    """Copy the containers of a JSON-like value so that callers may mutate the result."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(item) for item in value)
    return value


def _lookup(obj: Any, key: Any, label: str, dotted: bool) -> Any:
    """``obj.key`` (mappings only) or ``obj[key]`` (mappings, lists, tuples, strings)."""
    if isinstance(obj, Mapping):
        try:
            return obj[key]
        except KeyError:
            keys = ", ".join(_short(k) for k in islice(obj, 10)) + ("..." if len(obj) > 10 else "")
            known = f"its keys are: {keys}" if keys else f"{label} is empty"
            raise _Fail(
                f"{label} has no key {_short(key)}",
                hint=f"{known}; use get({label}, {_short(key)}) when the key may be missing",
            ) from None
    if dotted or not isinstance(obj, (list, tuple, str)):
        access = f".{key}" if dotted else "[]"
        raise _Fail(f"cannot use {access} on {label}: it is a {_type_name(obj)}",
                    hint=". reads keys of mappings; [] also indexes lists and strings; "
                    "there are no methods: use the functions, e.g. lower(s)")  # fmt: skip
    if not isinstance(key, int):
        raise _Fail(f"an index into {label} must be an integer, not {_type_name(key)}")
    try:
        return obj[key]
    except IndexError:
        raise _Fail(
            f"index {_short(key)} is out of range for {label} (length {len(obj)})",
            hint=f"check len({label}) first or use get({label}, index)",
        ) from None


# -- operators -----------------------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_length(a, len(a) + len(b))
    return a + b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_length(a, len(a) * b)
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_length(b, len(b) * a)
    elif isinstance(a, int) and isinstance(b, int) and (
        a.bit_length() + b.bit_length() > MAX_INT_BITS
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


# -- functions -----------------------------------------------------------------------------


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
"""The functions an expression may call, by bare name (their usage is in the module doc)."""
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


# -- compiling -----------------------------------------------------------------------------


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
_cached_template = functools.lru_cache(maxsize=1024)(compile_template)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Compile (cached by source) and evaluate an expression.

    Raises:
        ExpressionSyntaxError: The expression is invalid.
        ExpressionEvalError: Evaluating it failed.
    """
    compiled = _cached_expression(source) if isinstance(source, str) else compile_expression(source)
    return compiled.evaluate(scope)


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
