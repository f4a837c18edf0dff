"""Unit tests of flowscope.expressions: each construct, templates, logpoints, and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from flowscope import expressions as ex
from flowscope.errors import ExpressionError, ExpressionEvalError, ExpressionSyntaxError
from flowscope.expressions import _compiler

SCOPE: dict[str, Any] = {
    "inputs": {"name": "Ada", "n": 3, "flag": False, "tags": ["a", "b"], "none": None},
    "steps": {"fetch": {"output": {"id": 7, "items": [1, 2, 3], "user": {"email": "A@X.io"}}}},
    "vars": {"count": 0},
}


def ev(source: str, scope: dict[str, Any] | None = None) -> Any:
    return ex.evaluate(source, SCOPE if scope is None else scope)


# -- constructs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("7 / 2", 3.5),
        ("2 ** 10", 1024),
        ("-inputs.n", -3),
        ("+inputs.n", 3),
        ("not inputs.flag", True),
        ("'a' + 'b'", "ab"),
        ("[1] + [2]", [1, 2]),
        ("'ab' * 2", "abab"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True and None", None),
        ("0 or ''", ""),
        ("0 or 'x'", "x"),
        ("1 and 'y'", "y"),
        ("1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        ("1 == 1.0 != 2", True),
        ("'a' in inputs.tags", True),
        ("'z' not in inputs.tags", True),
        ("inputs.none is null", True),
        ("inputs.flag is not true", True),
        ("'big' if inputs.n > 2 else 'small'", "big"),
        ("steps.fetch.output.id", 7),
        ("steps['fetch'].output['items'][-1]", 3),
        ("steps.fetch.output.items[1:]", [2, 3]),
        ("steps.fetch.output.items[::-1]", [3, 2, 1]),
        ("'hello'[1:3]", "el"),
        ("(1, 2)", (1, 2)),
        ("{1, 1, 2}", {1, 2}),
        ("{'a': inputs.n, 'b': [null]}", {"a": 3, "b": [None]}),
        ("{'a': 1}['a']", 1),
    ],
)
def test_constructs_evaluate_like_python(source: str, expected: Any) -> None:
    result = ev(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("len(inputs.tags)", 2),
        ("min(3, 1, 2)", 1),
        ("max(steps.fetch.output.items)", 3),
        ("abs(-2)", 2),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("round(1234, ndigits=-2)", 1200),
        ("str(null)", ""),
        ("str(true)", "true"),
        ("str([1, {'a': null}])", '[1,{"a":null}]'),
        ("str(1.5)", "1.5"),
        ("int('42')", 42),
        ("float('1.5')", 1.5),
        ("bool([])", False),
        ("sum([1, 2, 3])", 6),
        ("any([0, 1])", True),
        ("all([1, 0])", False),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("sorted([3, 1, 2], reverse=true)", [3, 2, 1]),
        ("list('ab')", ["a", "b"]),
        ("keys({'a': 1})", ["a"]),
        ("values({'a': 1})", [1]),
        ("items({'a': 1})", [["a", 1]]),
        ("get(inputs, 'missing')", None),
        ("get(inputs, 'missing', 5)", 5),
        ("get(inputs, 'n', default=5)", 3),
        ("get(inputs.tags, 5, 'none')", "none"),
        ("get(inputs.tags, -1)", "b"),
        ("get(get(inputs, 'nope'), 'deeper', 1)", 1),
        ("coalesce(null, inputs.none, 0, 1)", 0),
        ("coalesce()", None),
        ("lower(steps.fetch.output.user.email)", "a@x.io"),
        ("upper('a')", "A"),
        ("strip('  a ')", "a"),
        ("startswith('abc', 'ab')", True),
        ("endswith('abc', 'x')", False),
        ("contains(inputs.tags, 'b')", True),
        ("join(inputs.tags, ', ')", "a, b"),
        ("join([1, null, true], sep='-')", "1--true"),
        ("split('a,b', ',')", ["a", "b"]),
        ("split('a b')", ["a", "b"]),
        ("json({'a': [1, true, null]})", '{"a":[1,true,null]}'),
        ("json('x')", '"x"'),
    ],
)
def test_allowed_functions(source: str, expected: Any) -> None:
    assert ev(source) == expected


def test_and_or_short_circuit_and_skip_failing_operands() -> None:
    assert ev("false and nope") is False
    assert ev("true or nope") is True
    assert ev("1 if true else nope") == 1
    with pytest.raises(ExpressionEvalError, match="unknown name 'nope'"):
        ev("true and nope")


def test_chained_comparison_evaluates_each_operand_once() -> None:
    calls: list[str] = []

    class Counting(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            calls.append(key)
            return super().__getitem__(key)

    assert ex.evaluate("1 < x < 3", Counting(x=2)) is True
    assert calls == ["x"]


def test_names_are_collected_without_constants_or_functions() -> None:
    expression = ex.compile_expression("len(steps.a) + inputs.n if true else vars['x'] or null")
    assert expression.names == frozenset({"steps", "inputs", "vars"})
    assert expression.source == "len(steps.a) + inputs.n if true else vars['x'] or null"


def test_wrapped_and_multiline_expressions() -> None:
    assert ev("${{ inputs.n }}") == 3
    assert ev("  ${{ inputs.n + 1 }}  ") == 4
    assert ev("inputs.n >= 1 and\n  inputs.name == 'Ada'  # a comment\n") is True
    with pytest.raises(ExpressionSyntaxError, match="unmatched"):
        ev("inputs.n) + (inputs.n")


def test_compiled_expression_is_reusable_across_scopes() -> None:
    expression = ex.compile_expression("x * 2")
    assert [expression.evaluate({"x": i}) for i in range(3)] == [0, 2, 4]


# -- evaluation errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("nope", "unknown name 'nope'"),
        ("steps.missing", "steps has no key 'missing'"),
        ("steps.fetch.output['nope']", "has no key 'nope'"),
        ("inputs.tags[5]", "out of range"),
        ("inputs.tags['a']", "must be an integer"),
        ("inputs.name.upper", "cannot use .upper on inputs.name: it is a str"),
        ("inputs.n[0]", "cannot use [] on inputs.n"),
        ("inputs.n[1:]", "cannot slice"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("1 + 'a'", "TypeError"),
        ("1 < 'a'", "TypeError"),
        ("'%s' % 1", "'%' string formatting is not allowed"),
        ("lower(1)", "lower() expects a string, got int"),
        ("keys([1])", "keys() expects a mapping"),
        ("int('x')", "int() failed: ValueError"),
        ("round(1.5, 1000)", "ndigits"),
        ("min([])", "min() failed"),
        ("{[1]: 2}", "TypeError"),
        ("2.0 ** 5000", "OverflowError"),
    ],
)
def test_evaluation_errors_name_the_problem(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionEvalError) as info:
        ev(source)
    assert fragment in str(info.value)
    assert info.value.expression == source


def test_unknown_name_lists_the_known_names() -> None:
    with pytest.raises(ExpressionEvalError) as info:
        ev("input.n")
    assert info.value.hint == "known names: inputs, steps, vars"


def test_missing_key_hint_lists_keys_and_suggests_get() -> None:
    with pytest.raises(ExpressionEvalError) as info:
        ev("inputs.nam")
    assert info.value.hint is not None
    assert "'name'" in info.value.hint
    assert "get(inputs, 'nam')" in info.value.hint


# -- conditions ---------------------------------------------------------------------------


def test_compile_condition_forms() -> None:
    assert ex.compile_condition(None) is None
    true = ex.compile_condition(True)
    assert true is not None and true.evaluate({}) is True and true.source == "true"
    false = ex.compile_condition(False)
    assert false is not None and false.evaluate({}) is False
    wrapped = ex.compile_condition("${{ inputs.n > 2 }}")
    assert wrapped is not None and wrapped.evaluate(SCOPE) is True
    bare = ex.compile_condition("inputs.flag")
    assert bare is not None and bare.evaluate(SCOPE) is False
    assert bare.names == frozenset({"inputs"})


@pytest.mark.parametrize("bad", ["${{ a }} and ${{ b }}", "", "   ", "${{ }}", "a ==", 3])
def test_compile_condition_refuses_non_expressions(bad: Any) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        ex.compile_condition(bad)
    assert info.value.hint


# -- templates ----------------------------------------------------------------------------


def test_whole_string_template_keeps_the_type() -> None:
    assert ex.render("${{ steps.fetch.output.items }}", SCOPE) == [1, 2, 3]
    assert ex.render("  ${{ inputs.n }} ", SCOPE) == 3
    assert ex.render("${{ inputs.none }}", SCOPE) is None
    assert ex.render("${{ '}}' }}", SCOPE) == "}}"
    assert ex.render("${{ {'a': {'b': 1}} }}", SCOPE) == {"a": {"b": 1}}


def test_interpolation_text_forms() -> None:
    template = "n=${{ inputs.n }} f=${{ inputs.flag }} z=${{ null }} l=${{ inputs.tags }}"
    template += " x=${{ 1.5 }}"
    assert ex.render(template, SCOPE) == 'n=3 f=false z= l=["a","b"] x=1.5'
    assert ex.render("${{ 1 }}${{ 2 }}", SCOPE) == "12"
    assert ex.render("id-${{ steps.fetch.output.id }}", SCOPE) == "id-7"


def test_nested_templates_render_recursively_with_plain_keys() -> None:
    value = {
        "${{ not_a_template_key }}": "${{ inputs.name }}",
        "list": ["${{ inputs.n }}", {"deep": "x-${{ inputs.n }}"}, 4, None],
        "const": {"k": [1, 2]},
        "tuple": ("${{ true }}",),
    }
    template = ex.compile_template(value)
    assert not template.is_constant
    assert [e.source for e in template.expressions] == [
        " inputs.name ",
        " inputs.n ",
        " inputs.n ",
        " true ",
    ]
    assert template.render(SCOPE) == {
        "${{ not_a_template_key }}": "Ada",
        "list": [3, {"deep": "x-3"}, 4, None],
        "const": {"k": [1, 2]},
        "tuple": (True,),
    }


@pytest.mark.parametrize(
    "value", ["plain", "", 3, 1.5, None, True, {"a": [1, {"b": "c"}]}, [1, "x"], "}} {{ $"]
)
def test_constant_templates_render_to_themselves(value: Any) -> None:
    template = ex.compile_template(value)
    assert template.is_constant
    assert template.expressions == ()
    assert template.source is value
    assert template.render({}) == value


def test_rendered_containers_are_fresh() -> None:
    source = {"a": [1, 2], "b": {"c": "${{ 1 }}"}, "d": {"e": [3]}}
    template = ex.compile_template(source)
    first = template.render({})
    first["a"].append(99)
    first["d"]["e"].append(99)
    assert template.render({}) == {"a": [1, 2], "b": {"c": 1}, "d": {"e": [3]}}
    constant = ex.compile_template({"x": [1]})
    out = constant.render({})
    out["x"].append(2)
    assert constant.render({}) == {"x": [1]}
    assert source == {"a": [1, 2], "b": {"c": "${{ 1 }}"}, "d": {"e": [3]}}


@pytest.mark.parametrize("bad", ["${{ 1", "a ${{ b", "${{ }}", "${{ a b }}", {"k": ["${{ ( }}"]}])
def test_bad_templates_are_syntax_errors(bad: Any) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        ex.compile_template(bad)
    assert info.value.hint


def test_unterminated_template_says_so() -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"unterminated '\$\{\{'"):
        ex.compile_template("a ${{ b")


def test_template_eval_error_names_the_expression() -> None:
    with pytest.raises(ExpressionEvalError) as info:
        ex.render({"a": "x-${{ steps.nope.output }}"}, SCOPE)
    assert info.value.expression == " steps.nope.output "


# -- logpoint messages --------------------------------------------------------------------


def test_interpolate_braces() -> None:
    message = "n={inputs.n} name={inputs.name} none={inputs.none} {{literal}} d={ {'a': 1}['a'] }"
    assert ex.interpolate_braces(message, SCOPE) == "n=3 name=Ada none=null {literal} d=1"
    assert ex.interpolate_braces("no braces", SCOPE) == "no braces"


def test_interpolate_braces_renders_eval_errors() -> None:
    text = ex.interpolate_braces("a={missing} b={1/0} c={inputs.n}", SCOPE)
    assert text.startswith("a=<error: unknown name 'missing'")
    assert "b=<error: division by zero" in text
    assert text.endswith("c=3")


@pytest.mark.parametrize("bad", ["{", "a } b", "{inputs.n", "{__import__('os')}", "{}", "{a b}"])
def test_bad_log_messages_are_refused_at_set_time(bad: str) -> None:
    with pytest.raises(ExpressionSyntaxError):
        ex.check_braces(bad)
    with pytest.raises(ExpressionSyntaxError):
        ex.interpolate_braces(bad, SCOPE)


def test_check_braces_accepts_good_messages() -> None:
    ex.check_braces("step {steps.fetch.output.id} done, {{not an expr}}")


# -- sandbox escapes and resource exhaustion ----------------------------------------------

MEGABYTE_SOURCE = "1+" * 500_000 + "1"
PAYLOADS: list[tuple[str, str]] = [
    ("().__class__.__bases__[0].__subclasses__()", "'_'"),
    ("__import__('os').system('id')", "'_'"),
    ("[].__class__", "'_'"),
    ("inputs.__dict__", "'_'"),
    ("inputs.__class__.__init__.__globals__", "'_'"),
    ("_private", "'_'"),
    ("getattr(inputs, '__globals__')", "getattr"),
    ("eval('1')", "eval"),
    ("exec('import os')", "exec"),
    ("open('/etc/passwd')", "open"),
    ("compile('1', 'f', 'eval')", "compile"),
    ("type(inputs)", "type"),
    ("vars()", "vars"),
    ("globals()", "globals"),
    ("locals()", "locals"),
    ("breakpoint()", "breakpoint"),
    ("help()", "help"),
    ("range(10**9)", "range"),
    ("setattr(inputs, 'n', 1)", "setattr"),
    ("(lambda: 1)()", "lambda"),
    ("[x for x in inputs.tags]", "comprehension"),
    ("{x: 1 for x in inputs.tags}", "comprehension"),
    ("sum(x for x in [1])", "generator"),
    ("(y := 1)", ":="),
    ("f'{inputs.n:>999999999}'", "f-string"),
    ("'{0.__class__}'.format(1)", "method"),
    ("inputs.name.format(1)", "method"),
    ("'%s' % inputs", "'%' string formatting"),
    ("'%999999999d' % 1", "'%' string formatting"),
    ("len.__self__", "'_'"),
    ("str.join", "unknown name 'str'"),
    ("len", "unknown name 'len'"),
    ("inputs.name.upper", "cannot use .upper"),
    ("lower.__call__('A')", "'_'"),
    ("len(*inputs.tags)", "unpacking"),
    ("get(**inputs)", "unpacking"),
    ("{**inputs}", "unpacking"),
    ("[*inputs.tags]", "unpacking"),
    ("b'bytes'", "bytes"),
    ("...", "ellipsis"),
    ("1j", "complex"),
    ("inputs is inputs", "'is'"),
    ("9**9**9", "exponent"),
    ("10**10**10", "exponent"),
    ("2**100000", "exponent"),
    ("(10**5000)**10", "bits"),
    ("(10**4000) * (10**4000) * (10**4000) * (10**4000) * (10**4000) * (10**4000)", "bits"),
    ("'a'*10**9", "characters"),
    ("10**9*'a'", "characters"),
    ("[1]*10**9", "items"),
    ("[[1]*100000]*100001", "items"),
    ("('a'*999999) + ('b'*999999)", "characters"),
    ("str([['x'*1000]*1000]*1000)", "too large"),
    ("json(['x'*999999, 'y'*999999])", "too large"),
    ("join(['x'*999999]*3)", "characters"),
    ("split(','*999999, ',')", "items"),
    ("1<<10**9", "'<<'"),
    ("1>>1", "'>>'"),
    ("~1", "'~'"),
    ("1 | 2", "'|'"),
    ("int('9'*5000)", "longer than 100"),
    ("round(10**600, -10**9)", "ndigits"),
    ("sum([[1]], [])", "takes 1"),
    ("(" * 5000 + ")" * 5000, "nested"),
    ("[" * 5000 + "]" * 5000, "nested"),
    ("-" * 9000 + "1", "parse"),
    ("a" + ".a" * 600, "parts"),
    ("[" * 70 + "]" * 70, "nests deeper"),
    (MEGABYTE_SOURCE, "characters long"),
    ("await x", "await"),
    ("(yield)", "yield"),
    ("'\x00'", "null bytes"),
]


@pytest.mark.parametrize(("payload", "fragment"), PAYLOADS, ids=[p[0][:40] for p in PAYLOADS])
def test_escape_and_exhaustion_payloads_are_refused(payload: str, fragment: str) -> None:
    scope = dict(SCOPE, x=1)
    with pytest.raises(ExpressionError) as info:
        ex.evaluate(payload, scope)
    message = str(info.value)
    assert message.strip()
    assert fragment.lower() in message.lower(), message[:300]


def test_payload_list_is_long_enough() -> None:
    assert len(PAYLOADS) >= 30


def test_refusals_happen_at_compile_time_where_they_can() -> None:
    for payload in ["().__class__", "eval('1')", "(lambda: 1)()", "x.format(1)", "1 << 2"]:
        with pytest.raises(ExpressionSyntaxError):
            ex.compile_expression(payload)


def test_a_mapping_attribute_never_reaches_python_attributes() -> None:
    class Secret(dict[str, Any]):
        token = "s3cret"

    with pytest.raises(ExpressionEvalError, match="has no key 'token'"):
        ex.evaluate("obj.token", {"obj": Secret()})

    class Thing:
        value = 1

    with pytest.raises(ExpressionEvalError, match=r"cannot use \.value"):
        ex.evaluate("obj.value", {"obj": Thing()})


def test_errors_inside_scope_objects_are_wrapped() -> None:
    class Exploding(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(ExpressionEvalError, match="RuntimeError: boom"):
        ex.evaluate("x.y", {"x": Exploding()})

    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ExpressionEvalError):
        ex.evaluate("x == y", {"x": deep, "y": [deep]})


def test_limits_allow_values_just_under_them() -> None:
    assert len(ex.evaluate("'a' * n", {"n": ex.MAX_STRING_LENGTH})) == ex.MAX_STRING_LENGTH
    assert len(ex.evaluate("[0] * n", {"n": ex.MAX_COLLECTION_LENGTH})) == ex.MAX_COLLECTION_LENGTH
    assert ex.evaluate("2 ** n", {"n": ex.MAX_POWER_EXPONENT}) == 2**ex.MAX_POWER_EXPONENT
    with pytest.raises(ExpressionEvalError):
        ex.evaluate("'a' * n", {"n": ex.MAX_STRING_LENGTH + 1})


def test_allowed_functions_are_exactly_documented() -> None:
    documented = ex.__doc__ or ""
    for name in ex.ALLOWED_FUNCTIONS:
        assert f"{name}(" in documented
    with pytest.raises(TypeError):
        ex.ALLOWED_FUNCTIONS["eval"] = eval  # type: ignore[index]


def test_public_api_is_pinned() -> None:
    assert sorted(ex.__all__) == [
        "ALLOWED_FUNCTIONS", "Expression", "MAX_COLLECTION_LENGTH", "MAX_DEPTH", "MAX_INT_BITS",
        "MAX_NODES", "MAX_POWER_EXPONENT", "MAX_SOURCE_LENGTH", "MAX_STRING_LENGTH", "Template",
        "check_braces", "compile_condition", "compile_expression", "compile_template",
        "evaluate", "interpolate_braces", "render",
    ]  # fmt: skip
    missing = [name for name in ex.__all__ if not hasattr(ex, name)]
    assert missing == []


def test_evaluate_caches_compilation() -> None:
    ex.evaluate("inputs.n + 100", SCOPE)
    before = _compiler._cached_expression.cache_info().hits
    ex.evaluate("inputs.n + 100", SCOPE)
    assert _compiler._cached_expression.cache_info().hits == before + 1


def test_non_string_sources_are_syntax_errors() -> None:
    with pytest.raises(ExpressionSyntaxError, match="must be a string"):
        ex.evaluate(["x"], SCOPE)  # type: ignore[arg-type]
    with pytest.raises(ExpressionSyntaxError, match="must be a string"):
        ex.check_braces(3)  # type: ignore[arg-type]
