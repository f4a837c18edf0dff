"""Loading workflow definitions: happy paths and every validation error, with its place."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flowscope.errors import ActionNotFoundError, CycleError, DefinitionError
from flowscope.model import (
    RetryPolicy,
    definition_hash,
    load_workflow,
    workflow_from_dict,
    workflow_from_json,
    workflow_from_yaml,
)

ORDERS_YAML = textwrap.dedent(
    """\
    name: order-fulfilment
    version: 2
    description: Ship an order
    inputs:
      order_id: {type: string, required: true}
      quantity: {type: integer, default: 1}
      note: string
    steps:
      - id: check
        uses: examples.orders:check_stock
        with:
          order: "${{ inputs.order_id }}"
          qty: "${{ inputs.quantity }}"
        retry: {attempts: 3, backoff: 0.5, max_backoff: 10, on: [timeout, external_service]}
        timeout: 30s
      - id: ship
        uses: ship_order
        needs: check
        if: "${{ steps.check.output.ok }}"
        set: {total: "${{ output.total }}"}
        effects: external
        timeout: 500ms
    outputs:
      shipped: "${{ steps.ship.output.tracking }}"
    """
)


def minimal(**step_fields: Any) -> dict[str, Any]:
    """Return a two-step definition whose second step gets ``step_fields`` merged in."""
    second: dict[str, Any] = {"id": "b", "uses": "pkg.mod:fn", "needs": ["a"]}
    second.update(step_fields)
    return {"name": "wf", "steps": [{"id": "a", "uses": "pkg.mod:fn"}, second]}


def error_for(data: Any, **kwargs: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        workflow_from_dict(data, **kwargs)
    return info.value


def yaml_error(text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        workflow_from_yaml(textwrap.dedent(text), source="flow.yaml")
    return info.value


# -- happy paths ---------------------------------------------------------------------------


def test_yaml_loads_into_the_model() -> None:
    wf = workflow_from_yaml(ORDERS_YAML, source="orders.yaml")
    assert wf.name == "order-fulfilment"
    assert wf.version == "2"
    assert wf.step_ids == ("check", "ship")
    check, ship = wf.steps
    assert check.uses == "examples.orders:check_stock"
    assert check.with_ == {"order": "${{ inputs.order_id }}", "qty": "${{ inputs.quantity }}"}
    assert check.retry == RetryPolicy(
        attempts=3, backoff=0.5, max_backoff=10.0, on=("timeout", "external_service")
    )
    assert check.timeout == 30.0
    assert check.line == 9
    assert ship.needs == ("check",)
    assert ship.if_ == "${{ steps.check.output.ok }}"
    assert ship.condition is not None
    assert set(ship.set_templates) == {"total"}
    assert ship.is_external
    assert ship.timeout == 0.5
    assert ship.index == 1
    assert ship.line == 16
    inputs = {spec.name: spec for spec in wf.inputs}
    assert inputs["order_id"].required and inputs["order_id"].type == "string"
    assert inputs["quantity"].has_default and inputs["quantity"].default == 1
    assert inputs["note"].type == "string" and not inputs["note"].has_default
    assert wf.outputs == {"shipped": "${{ steps.ship.output.tracking }}"}
    assert not wf.outputs_template.is_constant


def test_yaml_json_and_dict_give_the_same_definition() -> None:
    from_yaml = workflow_from_yaml(ORDERS_YAML)
    from_json = workflow_from_json(json.dumps(from_yaml.definition))
    from_dict = workflow_from_dict(from_yaml.definition)
    assert from_yaml.definition == from_json.definition == from_dict.definition
    assert from_yaml.definition_hash == from_json.definition_hash == from_dict.definition_hash


def test_definition_is_canonical() -> None:
    wf = workflow_from_yaml(ORDERS_YAML)
    ship = wf.definition["steps"][1]
    assert ship["needs"] == ["check"]  # a single string becomes a list
    assert wf.definition["steps"][0]["timeout"] == 30.0  # "30s" becomes seconds
    assert wf.definition["steps"][0]["retry"]["on"] == ["timeout", "external_service"]
    assert wf.definition_hash == definition_hash(wf.definition)
    text = json.dumps(wf.definition, sort_keys=True, separators=(",", ":"))
    assert json.loads(text) == wf.definition
    assert wf.to_dict() == wf.definition


def test_hash_changes_with_the_definition() -> None:
    a = workflow_from_dict(minimal())
    b = workflow_from_dict(minimal(timeout=5))
    assert a.definition_hash != b.definition_hash
    assert a.definition_hash == workflow_from_dict(minimal()).definition_hash


def test_equivalent_spellings_hash_equally() -> None:
    short = workflow_from_dict(minimal(needs="a", timeout="2m", retry=3))
    long = workflow_from_dict(minimal(needs=["a"], timeout=120, retry={"attempts": 3}))
    assert short.definition_hash == long.definition_hash


def test_every_loader_gives_the_same_workflow(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(ORDERS_YAML)
    expected = workflow_from_yaml(ORDERS_YAML).definition_hash
    assert workflow_from_yaml(ORDERS_YAML).definition_hash == expected
    assert load_workflow(path).definition_hash == expected
    assert load_workflow(path).source == str(path.resolve())
    definition = load_workflow(path).definition
    assert workflow_from_dict(definition).definition_hash == expected
    assert workflow_from_json(json.dumps(definition)).definition_hash == expected


def test_source_is_kept() -> None:
    wf = workflow_from_dict(minimal(), source="stored.yaml")
    assert wf.source == "stored.yaml"
    assert workflow_from_dict(minimal()).source is None


def test_load_workflow_json_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(minimal()))
    assert load_workflow(path).step_ids == ("a", "b")


def test_retry_as_int_and_defaults() -> None:
    wf = workflow_from_dict(minimal(retry=4))
    assert wf.step("b").retry.attempts == 4
    assert wf.step("a").retry == RetryPolicy()


def test_yaml_on_key_is_not_a_boolean() -> None:
    # YAML 1.1 reads a bare `on` as true; the loader must keep it as the key "on".
    wf = workflow_from_yaml(
        """
        name: wf
        steps:
          - id: a
            uses: x
            retry: {attempts: 2, on: [rate_limit]}
            if: yes
        """.replace("        ", "")
    )
    assert wf.step("a").retry.on == ("rate_limit",)


def test_boolean_condition() -> None:
    wf = workflow_from_dict(minimal(**{"if": False}))
    assert wf.step("b").if_ == "false"
    assert wf.definition["steps"][1]["if"] is False


def test_registered_name_and_hyphenated_uses_are_allowed() -> None:
    wf = workflow_from_dict(
        {
            "name": "wf",
            "steps": [{"id": "a", "uses": "send-email"}, {"id": "b", "uses": "http.get"}],
        }
    )
    assert [s.uses for s in wf.steps] == ["send-email", "http.get"]


def test_outputs_may_read_any_step() -> None:
    data = minimal()
    data["outputs"] = {"x": "${{ steps.a.output }}", "y": ["${{ steps.b.output }}"]}
    assert workflow_from_dict(data).outputs == data["outputs"]


def test_set_may_read_its_own_step() -> None:
    wf = workflow_from_dict(minimal(set={"v": "${{ steps.b.output.n }}"}))
    assert wf.step("b").set == {"v": "${{ steps.b.output.n }}"}


def test_transitive_ancestor_may_be_read() -> None:
    data = minimal()
    data["steps"].append(
        {"id": "c", "uses": "x", "needs": "b", "with": {"v": "${{ steps.a.output }}"}}
    )
    assert workflow_from_dict(data).step("c").needs == ("b",)


# -- top-level errors ----------------------------------------------------------------------


def test_not_a_mapping() -> None:
    err = error_for(["a"])
    assert "must be a mapping" in str(err)


@pytest.mark.parametrize(
    ("name", "expected"),
    [(None, "needs a `name`"), ("", "non-empty string"), (3, "non-empty string")],
)
def test_bad_name(name: Any, expected: str) -> None:
    data = minimal()
    if name is None:
        del data["name"]
    else:
        data["name"] = name
    err = error_for(data)
    assert err.place == "name"
    assert expected in str(err)


@pytest.mark.parametrize("steps", [None, [], "a", {"a": 1}])
def test_bad_steps(steps: Any) -> None:
    data: dict[str, Any] = {"name": "wf"}
    if steps is not None:
        data["steps"] = steps
    err = error_for(data)
    assert err.place == "steps"
    assert "non-empty list" in str(err)


def test_unknown_top_level_key_suggests_the_closest() -> None:
    data = minimal()
    data["output"] = {}
    err = error_for(data)
    assert err.place == "output"
    assert "did you mean 'outputs'" in str(err)


def test_unknown_step_key_suggests_the_closest() -> None:
    err = error_for(minimal(neds=["a"]))
    assert err.place == "steps[1].neds"
    assert "did you mean 'needs'" in str(err)


def test_source_is_named() -> None:
    err = error_for(minimal(neds=["a"]), source="orders.yaml")
    assert str(err).startswith("orders.yaml: steps[1].neds")


# -- step errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["1st", "has space", "", 7])
def test_bad_step_id(bad_id: Any) -> None:
    err = error_for(minimal(id=bad_id))
    assert err.place == "steps[1].id"


def test_step_without_id() -> None:
    data = minimal()
    del data["steps"][1]["id"]
    err = error_for(data)
    assert err.place == "steps[1]"
    assert "no `id`" in str(err)


def test_step_not_a_mapping() -> None:
    err = error_for({"name": "wf", "steps": ["a"]})
    assert err.place == "steps[0]"


def test_duplicate_ids_name_both_indexes() -> None:
    err = error_for(minimal(id="a"))
    assert err.place == "steps[1].id"
    assert "steps[0]" in str(err)


def test_unknown_need_suggests_the_closest() -> None:
    err = error_for(minimal(needs=["a", "aa"]))
    assert err.place == "steps[1].needs[1]"
    assert "'aa'" in str(err) and "did you mean 'a'" in str(err)


def test_step_needing_itself() -> None:
    err = error_for(minimal(needs=["b"]))
    assert err.place == "steps[1].needs[0]"
    assert "needs itself" in str(err)


def test_cycle_is_named_in_order() -> None:
    data = {
        "name": "wf",
        "steps": [
            {"id": "a", "uses": "x", "needs": ["c"]},
            {"id": "b", "uses": "x", "needs": ["a"]},
            {"id": "c", "uses": "x", "needs": ["b"]},
        ],
    }
    with pytest.raises(CycleError) as info:
        workflow_from_dict(data)
    assert info.value.cycle == ["a", "b", "c"]
    assert "a -> b -> c -> a" in str(info.value)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"uses": None}, "neither"), ({"workflow": "child.yaml"}, "both")],
)
def test_uses_and_workflow_exactly_one(fields: dict[str, Any], expected: str) -> None:
    step = minimal()["steps"][1] | fields
    step = {k: v for k, v in step.items() if v is not None}
    data = minimal()
    data["steps"][1] = step
    err = error_for(data)
    assert err.place == "steps[1]"
    assert expected in str(err)


@pytest.mark.parametrize("uses", ["pkg.mod:", ":fn", "a b", "pkg:mod:fn", "1pkg:fn", 3])
def test_bad_uses(uses: Any) -> None:
    err = error_for(minimal(uses=uses))
    assert err.place == "steps[1].uses"


@pytest.mark.parametrize(
    ("retry", "place", "expected"),
    [
        ({"attempts": 0}, "steps[1].retry.attempts", ">= 1"),
        ({"attempts": True}, "steps[1].retry.attempts", ">= 1"),
        (0, "steps[1].retry.attempts", ">= 1"),
        ({"backoff": -1}, "steps[1].retry.backoff", ">= 0"),
        ({"max_backoff": "x"}, "steps[1].retry.max_backoff", ">= 0"),
        ({"on": ["timeout", "tiemout"]}, "steps[1].retry.on[1]", "did you mean 'timeout'"),
        ({"on": "nope"}, "steps[1].retry.on", "valid categories"),
        ({"jitter": "yes"}, "steps[1].retry.jitter", "true or false"),
        ({"attemps": 2}, "steps[1].retry.attemps", "did you mean 'attempts'"),
        ("three", "steps[1].retry", "number of attempts"),
    ],
)
def test_bad_retry(retry: Any, place: str, expected: str) -> None:
    err = error_for(minimal(retry=retry))
    assert err.place == place
    assert expected in str(err)


@pytest.mark.parametrize("timeout", [0, -3, "soon", "5 days", True, float("inf")])
def test_bad_timeout(timeout: Any) -> None:
    err = error_for(minimal(timeout=timeout))
    assert err.place == "steps[1].timeout"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("1h", 3600.0)],
)
def test_timeout_strings(text: str, seconds: float) -> None:
    assert workflow_from_dict(minimal(timeout=text)).step("b").timeout == seconds


def test_bad_effects() -> None:
    err = error_for(minimal(effects="internal"))
    assert err.place == "steps[1].effects"
    assert "'external'" in str(err)


# -- inputs --------------------------------------------------------------------------------


def test_unknown_input_type_lists_valid_ones() -> None:
    data = minimal()
    data["inputs"] = {"quantity": {"type": "int"}}
    err = error_for(data)
    assert err.place == "inputs.quantity.type"
    assert "integer" in str(err) and "boolean" in str(err)


@pytest.mark.parametrize(
    ("spec", "place"),
    [
        ({"type": "integer", "default": "one"}, "inputs.q.default"),
        ({"type": "integer", "default": True}, "inputs.q.default"),
        ({"type": "number", "default": False}, "inputs.q.default"),
        ({"type": "string", "required": "yes"}, "inputs.q.required"),
        ({"type": "string", "requird": True}, "inputs.q.requird"),
        (["string"], "inputs.q"),
    ],
)
def test_bad_input_spec(spec: Any, place: str) -> None:
    data = minimal()
    data["inputs"] = {"q": spec}
    assert error_for(data).place == place


def test_input_defaults_of_the_right_type() -> None:
    data = minimal()
    data["inputs"] = {
        "n": {"type": "number", "default": 2},
        "o": {"type": "object", "default": {"a": 1}},
        "z": {"type": "string", "default": None},
    }
    specs = {s.name: s for s in workflow_from_dict(data).inputs}
    assert specs["n"].default == 2
    assert specs["z"].has_default and specs["z"].default is None


# -- expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "place"),
    [
        ({"with": {"order": "${{ 1 + }}"}}, "steps[1].with.order"),
        ({"with": {"items": ["ok", "${{ ) }}"]}}, "steps[1].with.items[1]"),
        ({"if": "${{ 1 + }}"}, "steps[1].if"),
        ({"set": {"total": "${{ output. }}"}}, "steps[1].set.total"),
    ],
)
def test_expression_syntax_errors_name_the_place(fields: dict[str, Any], place: str) -> None:
    err = error_for(minimal(**fields))
    assert err.place == place
    assert "bad expression" in str(err)
    assert err.__cause__ is not None


def test_output_syntax_error() -> None:
    data = minimal()
    data["outputs"] = {"x": "${{ 1 + }}"}
    assert error_for(data).place == "outputs.x"


def test_reading_an_unknown_step_is_refused() -> None:
    err = error_for(minimal(**{"with": {"v": "${{ steps.aa.output }}"}}))
    assert err.place == "steps[1].with.v"
    assert "no step has id 'aa'" in str(err)
    assert "did you mean 'a'" in str(err)


def test_reading_a_step_that_is_not_needed_is_refused() -> None:
    data = minimal(**{"if": "${{ steps.c.output.ok }}"})
    data["steps"].append({"id": "c", "uses": "x"})
    err = error_for(data)
    assert err.place == "steps[1].if"
    assert "add 'c' to the `needs`" in str(err)


def test_reading_its_own_output_in_with_is_refused() -> None:
    err = error_for(minimal(**{"with": {"v": "${{ steps.b.output }}"}}))
    assert err.place == "steps[1].with.v"
    assert "own output" in str(err)


def test_step_names_inside_string_literals_are_not_reads() -> None:
    wf = workflow_from_dict(minimal(**{"with": {"v": "${{ 'steps.zz' + inputs.x }}"}}))
    assert wf.step("b").with_ == {"v": "${{ 'steps.zz' + inputs.x }}"}


def test_hyphenated_ids_are_read_by_subscript() -> None:
    data = minimal(**{"with": {"v": "${{ steps['check-stock'].output }}"}}, needs=["check-stock"])
    data["steps"][0]["id"] = "check-stock"
    assert workflow_from_dict(data).step("b").needs == ("check-stock",)
    data["steps"][1]["with"] = {"v": "${{ steps.check-stock.output }}"}
    err = error_for(data)
    assert "steps['check-stock']" in str(err)


def test_outputs_reading_an_unknown_step() -> None:
    data = minimal()
    data["outputs"] = {"x": "${{ steps['zz'].output }}"}
    err = error_for(data)
    assert err.place == "outputs.x"


# -- YAML lines ----------------------------------------------------------------------------


def test_yaml_error_names_the_line() -> None:
    err = yaml_error(
        """\
        name: wf
        steps:
          - id: a
            uses: x
          - id: b
            uses: x
            needs: [a
        """
    )
    assert err.line is not None and err.line >= 7
    assert err.source == "flow.yaml"
    assert "invalid YAML" in str(err)


def test_validation_errors_carry_the_yaml_line() -> None:
    err = yaml_error(
        """\
        name: wf
        steps:
          - id: a
            uses: x
          - id: b
            uses: x
            needs:
              - a
              - c
        """
    )
    assert err.place == "steps[1].needs[1]"
    assert err.line == 9
    assert "flow.yaml: steps[1].needs[1] (line 9)" in str(err)


def test_expression_error_line_in_nested_with() -> None:
    err = yaml_error(
        """\
        name: wf
        steps:
          - id: a
            uses: x
            with:
              order:
                id: "${{ inputs.x + }}"
        """
    )
    assert err.place == "steps[0].with.order.id"
    assert err.line == 7


def test_cycle_error_carries_a_line() -> None:
    with pytest.raises(CycleError) as info:
        workflow_from_yaml(
            "name: wf\nsteps:\n  - id: a\n    uses: x\n    needs: b\n"
            "  - id: b\n    uses: x\n    needs: a\n"
        )
    assert info.value.line == 5


def test_yaml_empty_document() -> None:
    err = yaml_error("")
    assert "must be a mapping" in str(err)


def test_json_syntax_error_names_the_line() -> None:
    with pytest.raises(DefinitionError) as info:
        workflow_from_json('{\n "name": "wf",\n "steps": [,]\n}', source="wf.json")
    assert info.value.line == 3


def test_json_validation_errors_carry_the_line() -> None:
    text = json.dumps(minimal(needs=["a", "zz"]), indent=2)
    with pytest.raises(DefinitionError) as info:
        workflow_from_json(text, source="wf.json")
    assert info.value.place == "steps[1].needs[1]"
    assert info.value.line == text.splitlines().index('        "zz"') + 1


def test_unreadable_or_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not found"):
        load_workflow(tmp_path / "missing.yaml")
    other = tmp_path / "wf.txt"
    other.write_text("name: wf")
    with pytest.raises(DefinitionError, match=r"\*\.yaml"):
        load_workflow(other)


def test_unstorable_value_is_refused() -> None:
    err = error_for(minimal(**{"with": {"when": object()}}))
    assert err.place == "steps[1].with.when"
    assert not isinstance(err, ActionNotFoundError)
