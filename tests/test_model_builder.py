"""WorkflowBuilder: same definitions, same validation as YAML."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from flowscope.errors import CycleError, DefinitionError
from flowscope.model import RetryPolicy, WorkflowBuilder, workflow_from_yaml

YAML = textwrap.dedent(
    """\
    name: orders
    version: "3"
    description: Ship it
    inputs:
      order_id: {type: string, required: true}
      quantity: {type: integer, default: 1}
    steps:
      - id: check
        uses: examples.orders:check_stock
        with: {order: "${{ inputs.order_id }}"}
        retry: {attempts: 3, backoff: 0.5}
        timeout: 30
      - id: ship
        uses: MODULE:ship
        needs: [check]
        if: "${{ steps.check.output.ok }}"
        set: {total: "${{ output.total }}"}
        effects: external
    outputs:
      tracking: "${{ steps.ship.output.tracking }}"
    """
)


def ship(order: Any) -> dict[str, Any]:  # pragma: no cover - only named, never run
    """A module-level step function the builder can name."""
    return {"tracking": order}


def orders_builder() -> WorkflowBuilder:
    return (
        WorkflowBuilder("orders", version="3", description="Ship it")
        .input("order_id", "string", required=True)
        .input("quantity", "integer", default=1)
        .step(
            "check",
            "examples.orders:check_stock",
            with_={"order": "${{ inputs.order_id }}"},
            retry={"attempts": 3, "backoff": 0.5},
            timeout=30,
        )
        .step(
            "ship",
            ship,
            needs=["check"],
            if_="${{ steps.check.output.ok }}",
            set={"total": "${{ output.total }}"},
            effects="external",
        )
        .output("tracking", "${{ steps.ship.output.tracking }}")
    )


def test_builder_matches_yaml() -> None:
    built = orders_builder().build()
    loaded = workflow_from_yaml(YAML.replace("MODULE", ship.__module__))
    assert built.definition == loaded.definition
    assert built.definition_hash == loaded.definition_hash
    assert built.step("ship").uses == f"{ship.__module__}:ship"


def test_retry_policy_object() -> None:
    policy = RetryPolicy(attempts=2, backoff=0.1, on=("timeout",), jitter=False)
    wf = WorkflowBuilder("w").step("a", "x", retry=policy).build()
    assert wf.step("a").retry == policy


def test_default_none_is_a_default() -> None:
    wf = WorkflowBuilder("w").input("opt", "string", default=None).step("a", "x").build()
    assert wf.inputs[0].has_default and wf.inputs[0].default is None
    wf = WorkflowBuilder("w").input("opt", "string").step("a", "x").build()
    assert not wf.inputs[0].has_default


def test_sub_workflow_object_is_inlined() -> None:
    child = WorkflowBuilder("child").step("inner", "x").build()
    parent = WorkflowBuilder("parent").step("sub", workflow=child).build()
    assert parent.subworkflows["sub"].definition_hash == child.definition_hash
    assert parent.definition["steps"][0]["workflow_definition"] == child.definition


def test_builder_errors_go_through_validation() -> None:
    with pytest.raises(DefinitionError) as info:
        WorkflowBuilder("w").step("a", "x").step("b", "x", needs=["c"]).build()
    assert info.value.place == "steps[1].needs[0]"
    with pytest.raises(CycleError):
        WorkflowBuilder("w").step("a", "x", needs="b").step("b", "x", needs="a").build()


def test_lambda_cannot_be_named() -> None:
    with pytest.raises(DefinitionError) as info:
        WorkflowBuilder("w").step("a", lambda: None)
    assert info.value.place == "steps[0].uses"
    assert "module level" in str(info.value)
