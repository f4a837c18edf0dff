"""Run inputs: validate_inputs and coerce_cli_input."""

from __future__ import annotations

from typing import Any

import pytest

from flowscope.errors import InputError
from flowscope.model import Workflow, coerce_cli_input, validate_inputs, workflow_from_dict


def workflow(inputs: dict[str, Any]) -> Workflow:
    return workflow_from_dict({"name": "wf", "inputs": inputs, "steps": [{"id": "a", "uses": "x"}]})


ORDERS = workflow(
    {
        "order_id": {"type": "string", "required": True},
        "quantity": {"type": "integer", "default": 1},
        "price": "number",
        "express": {"type": "boolean", "required": True, "default": False},
        "tags": "array",
        "meta": "object",
        "anything": "any",
    }
)


def test_defaults_are_filled() -> None:
    assert validate_inputs(ORDERS, {"order_id": "o-1"}) == {
        "order_id": "o-1",
        "quantity": 1,
        "price": None,
        "express": False,
        "tags": None,
        "meta": None,
        "anything": None,
    }


def test_given_values_are_kept_and_the_argument_is_not_changed() -> None:
    given = {"order_id": "o-1", "quantity": 5, "price": 2, "tags": ("a",), "meta": {"k": 1}}
    before = dict(given)
    result = validate_inputs(ORDERS, given)
    assert given == before
    assert result["quantity"] == 5 and result["price"] == 2 and result["tags"] == ("a",)


def test_each_problem_is_named() -> None:
    with pytest.raises(InputError) as info:
        validate_inputs(ORDERS, {"quantity": "5", "colour": "red", "price": True})
    message = str(info.value)
    assert "missing required input 'order_id'" in message
    assert "unknown input 'colour'" in message
    assert "input 'quantity' must be an integer, got string" in message
    assert "input 'price' must be a number, got boolean" in message


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("string", "x", 1),
        ("integer", 3, 3.5),
        ("integer", -1, True),
        ("number", 2.5, "2.5"),
        ("number", 2, False),
        ("boolean", True, 1),
        ("object", {"a": 1}, [1]),
        ("array", [1], {"a": 1}),
    ],
)
def test_types(kind: str, good: Any, bad: Any) -> None:
    wf = workflow({"v": {"type": kind, "required": True}})
    assert validate_inputs(wf, {"v": good}) == {"v": good}
    with pytest.raises(InputError, match="input 'v' must be"):
        validate_inputs(wf, {"v": bad})


def test_null_only_for_optional_inputs() -> None:
    wf = workflow({"req": {"type": "string", "required": True}, "opt": "string"})
    assert validate_inputs(wf, {"req": "x", "opt": None})["opt"] is None
    with pytest.raises(InputError, match="'req' must be a string, got null"):
        validate_inputs(wf, {"req": None})


def test_none_inputs_means_none_given() -> None:
    assert validate_inputs(workflow({}), None) == {}
    with pytest.raises(InputError, match="declares: none"):
        validate_inputs(workflow({}), {"x": 1})


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("string", "42", "42"),
        ("integer", " 42 ", 42),
        ("number", "42", 42),
        ("number", "2.5", 2.5),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("object", '{"a": [1]}', {"a": [1]}),
        ("array", "[1, 2]", [1, 2]),
        ("any", "3", 3),
        ("any", "hello", "hello"),
    ],
)
def test_coerce_cli_input(kind: str, text: str, value: Any) -> None:
    result = coerce_cli_input(kind, text)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("integer", "4.5", "not an integer"),
        ("number", "many", "not a number"),
        ("number", "nan", "not a finite number"),
        ("boolean", "maybe", "not a boolean"),
        ("object", "[1]", "not an object"),
        ("object", "{bad", "not valid JSON"),
        ("array", '{"a": 1}', "not an array"),
        ("decimal", "1", "unknown input type"),
    ],
)
def test_coerce_cli_input_errors(kind: str, text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        coerce_cli_input(kind, text)
