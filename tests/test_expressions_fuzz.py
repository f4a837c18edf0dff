"""Property and fuzz tests of flowscope.expressions (Hypothesis).

Random text and random soups of Python tokens must never make compiling, evaluating or
rendering raise anything but an ExpressionError; arithmetic, comparisons and boolean
operators must agree with Python; constant templates must render to themselves.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flowscope import expressions as ex
from flowscope.errors import ExpressionError

SCOPE: dict[str, Any] = {
    "inputs": {"n": 3, "s": "abc", "l": [1, 2, 3], "d": {"k": "v"}, "none": None},
    "steps": {"a": {"output": {"id": 1, "items": ["x", "y"]}}},
    "vars": {},
    "x": 2,
}

TOKENS = [
    *("inputs", "steps", "vars", "x", "n", "s", "l", "d", "k", "output", "items", "_x"),
    *("__class__", "__globals__", "__import__", "__subclasses__", "format", "eval", "open"),
    *("true", "false", "null", "None", "True", "lambda", "for", "in", "if", "else", "is"),
    *("not", "and", "or", "yield", "await", "async", "import", "def", "del", "global"),
    *(sorted(ex.ALLOWED_FUNCTIONS)),
    *("0", "1", "2", "9", "10", "99999", "1e308", "-1", "0.5", "1j", "0x10", "10**9"),
    *("'a'", '"b"', "''", "'%s'", "'{0}'", "b'x'", "f'{x}'", "'''q'''", "'\\x00'", "'${{'"),
    *("+", "-", "*", "/", "//", "%", "**", "<<", ">>", "|", "&", "^", "~", "@", ":="),
    *("==", "!=", "<", "<=", ">", ">=", ".", ",", ":", ";", "=", "*", "**", "\\", "#"),
    *("(", ")", "[", "]", "{", "}", "${{", "}}", " ", "\n", "\t", "...", "$", "`", "!"),
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join)
fuzz_settings = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _only_expression_errors(action: Callable[[], Any]) -> None:
    try:
        action()
    except ExpressionError as exc:
        assert str(exc).strip()


@fuzz_settings
@given(st.text(max_size=200))
def test_random_text_only_raises_expression_errors(text: str) -> None:
    _only_expression_errors(lambda: ex.compile_expression(text))
    _only_expression_errors(lambda: ex.evaluate(text, SCOPE))
    _only_expression_errors(lambda: ex.compile_template(text))
    _only_expression_errors(lambda: ex.render(text, SCOPE))
    _only_expression_errors(lambda: ex.interpolate_braces(text, SCOPE))
    _only_expression_errors(lambda: ex.compile_condition(text))


@fuzz_settings
@given(token_soup)
def test_token_soups_only_raise_expression_errors(soup: str) -> None:
    _only_expression_errors(lambda: ex.evaluate(soup, SCOPE))
    _only_expression_errors(lambda: ex.render(f"a ${{{{ {soup} }}}} b", SCOPE))
    _only_expression_errors(lambda: ex.render({"k": [f"${{{{ {soup} }}}}"]}, SCOPE))
    _only_expression_errors(lambda: ex.interpolate_braces(f"v={{{soup}}}", SCOPE))


@fuzz_settings
@given(st.text(alphabet="()[]{}'\"+-*~not123abc.,:$ ", max_size=300))
def test_bracket_heavy_text_only_raises_expression_errors(text: str) -> None:
    _only_expression_errors(lambda: ex.evaluate(text, SCOPE))
    _only_expression_errors(lambda: ex.render(text, SCOPE))


# -- agreement with Python ----------------------------------------------------------------

ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


def _python(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except (ZeroDivisionError, OverflowError) as exc:
        return "error", type(exc)


def _ours(source: str, scope: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", ex.evaluate(source, scope)
    except ExpressionError:
        return "error", None


def _same(ours: tuple[str, Any], python: tuple[str, Any]) -> bool:
    if ours[0] != python[0]:
        return False
    if ours[0] == "error":
        return True
    a, b = ours[1], python[1]
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(numbers, numbers, st.sampled_from(sorted(ARITHMETIC)))
def test_arithmetic_matches_python(a: Any, b: Any, op: str) -> None:
    ours = _ours(f"a {op} b", {"a": a, "b": b})
    assert _same(ours, _python(lambda: ARITHMETIC[op](a, b))), (a, op, b, ours)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-50, max_value=50) | st.floats(min_value=-50, max_value=50),
    st.integers(min_value=-40, max_value=40),
)
def test_power_matches_python(a: Any, b: int) -> None:
    assume(not (a == 0 and b < 0))
    assert _same(_ours("a ** b", {"a": a, "b": b}), _python(lambda: a**b))


@settings(max_examples=300, deadline=None)
@given(numbers, numbers)
def test_literal_arithmetic_matches_python(a: Any, b: Any) -> None:
    # Literals go through the parser, so this also checks number literals round-trip.
    source = f"({a!r}) * 2 - ({b!r})"
    expected = _python(lambda: a * 2 - b)
    assert _same(_ours(source, {}), expected)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(numbers, min_size=2, max_size=5),
    st.lists(st.sampled_from(sorted(COMPARISONS)), min_size=4, max_size=4),
)
def test_chained_comparisons_match_python(values: list[Any], ops: list[str]) -> None:
    names = [f"v{i}" for i in range(len(values))]
    source = names[0] + "".join(f" {op} {name}" for op, name in zip(ops, names[1:], strict=False))
    expected: Any = True
    for (op, left), right in zip(zip(ops, values, strict=False), values[1:], strict=False):
        expected = COMPARISONS[op](left, right)
        if not expected:
            break
    assert ex.evaluate(source, dict(zip(names, values, strict=True))) == expected


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)


@settings(max_examples=300, deadline=None)
@given(json_scalars, json_scalars, json_scalars, st.sampled_from(["and", "or"]))
def test_boolean_operators_return_the_python_operand(a: Any, b: Any, c: Any, op: str) -> None:
    expected = (a and b and c) if op == "and" else (a or b or c)
    result = ex.evaluate(f"a {op} b {op} c", {"a": a, "b": b, "c": c})
    assert result is expected
    assert ex.evaluate("not a", {"a": a}) is (not a)
    assert ex.evaluate("b if a else c", {"a": a, "b": b, "c": c}) is (b if a else c)


json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_templates_without_expressions_render_to_themselves(value: Any) -> None:
    assume("${{" not in repr(value))
    template = ex.compile_template(value)
    assert template.is_constant
    assert template.expressions == ()
    assert template.render(SCOPE) == value


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_whole_string_template_returns_the_value_itself(value: Any) -> None:
    rendered = ex.render({"out": "${{ value }}", "text": "<${{ value }}>"}, {"value": value})
    assert rendered["out"] is value
    assert rendered["text"].startswith("<") and rendered["text"].endswith(">")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    assert ex.evaluate(repr(text), {}) == text
    assert ex.render(f"${{{{ {text!r} }}}}", {}) == text
