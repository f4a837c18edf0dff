"""A bad expression in a definition is reported once, with its place and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from flowscope.errors import DefinitionError
from flowscope.model import workflow_from_dict


def _error(step_fields: dict[str, Any]) -> DefinitionError:
    step = {"id": "a", "uses": "pkg.mod:fn", **step_fields}
    with pytest.raises(DefinitionError) as info:
        workflow_from_dict({"name": "wf", "steps": [step]})
    return info.value


@pytest.mark.parametrize(
    ("fields", "place", "expression", "hint"),
    [
        ({"if": "a.__class__"}, "steps[0].if", "a.__class__", "private and special names"),
        ({"with": {"p": "${{ 1 + }}"}}, "steps[0].with.p", " 1 + ", "use literals"),
        ({"set": {"x": "${{ foo(1) }}"}}, "steps[0].set.x", " foo(1) ", "allowed functions"),
    ],
)
def test_expression_appears_once_with_place_and_hint(
    fields: dict[str, Any], place: str, expression: str, hint: str
) -> None:
    err = _error(fields)
    text = str(err)
    assert err.place == place
    assert text.startswith(f"{place}: bad expression: ")
    assert text.count(repr(expression)) == 1
    assert text.count("in expression") == 1
    assert err.hint is not None and hint in err.hint
