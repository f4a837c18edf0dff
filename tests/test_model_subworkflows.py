"""Sub-workflows: relative paths, registered names, inline reload, recursion bounds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from flowscope.errors import ActionNotFoundError, RecursionLimitError
from flowscope.model import load_workflow, workflow_from_dict, workflow_from_yaml

PARENT = """\
name: parent
steps:
  - id: prepare
    uses: pkg.mod:prepare
  - id: pay
    workflow: ./sub/payment.yaml
    needs: [prepare]
    with: {amount: "${{ steps.prepare.output.amount }}"}
"""

PAYMENT = """\
name: payment
inputs:
  amount: {type: number, required: true}
steps:
  - id: charge
    uses: pkg.mod:charge
  - id: receipt
    workflow: ../receipt.json
    needs: charge
"""

RECEIPT = {"name": "receipt", "steps": [{"id": "send", "uses": "pkg.mod:send"}]}


def write_tree(root: Path) -> Path:
    (root / "sub").mkdir()
    (root / "parent.yaml").write_text(PARENT)
    (root / "sub" / "payment.yaml").write_text(PAYMENT)
    (root / "receipt.json").write_text(json.dumps(RECEIPT))
    return root / "parent.yaml"


def test_relative_paths_start_from_the_parent_file(tmp_path: Path) -> None:
    wf = load_workflow(write_tree(tmp_path))
    payment = wf.subworkflows["pay"]
    assert payment.name == "payment"
    assert payment.source == str((tmp_path / "sub" / "payment.yaml").resolve())
    assert payment.subworkflows["receipt"].name == "receipt"
    assert wf.step("pay").is_subworkflow
    assert "prepare" not in wf.subworkflows


def test_definition_inlines_sub_workflows(tmp_path: Path) -> None:
    wf = load_workflow(write_tree(tmp_path))
    pay = wf.definition["steps"][1]
    assert pay["workflow"] == "./sub/payment.yaml"
    assert pay["workflow_definition"] == wf.subworkflows["pay"].definition
    receipt = pay["workflow_definition"]["steps"][1]["workflow_definition"]
    assert receipt["name"] == "receipt"


def test_stored_definition_reloads_without_files(tmp_path: Path) -> None:
    wf = load_workflow(write_tree(tmp_path))
    stored = json.loads(json.dumps(wf.definition))
    for path in [tmp_path / "parent.yaml", tmp_path / "sub" / "payment.yaml"]:
        path.unlink()
    (tmp_path / "receipt.json").unlink()
    again = workflow_from_dict(stored)
    assert again.definition_hash == wf.definition_hash
    assert again.subworkflows["pay"].subworkflows["receipt"].step_ids == ("send",)


def test_sub_workflow_errors_name_the_child_file(tmp_path: Path) -> None:
    path = write_tree(tmp_path)
    (tmp_path / "sub" / "payment.yaml").write_text(PAYMENT.replace("needs: charge", "needs: chrge"))
    with pytest.raises(Exception) as info:
        load_workflow(path)
    assert "payment.yaml" in str(info.value)
    assert "steps[1].needs" in str(info.value)
    assert "line 9" in str(info.value)


def test_inline_definition_errors_carry_the_prefix() -> None:
    data = {
        "name": "p",
        "steps": [
            {
                "id": "child",
                "workflow": "child",
                "workflow_definition": {"name": "c", "steps": [{"id": "x", "uses": "1bad"}]},
            }
        ],
    }
    with pytest.raises(Exception) as info:
        workflow_from_dict(data)
    assert "steps[0].workflow_definition.steps[0].uses" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: p\nsteps:\n  - id: a\n    workflow: ./nope.yaml\n")
    with pytest.raises(ActionNotFoundError) as info:
        load_workflow(tmp_path / "p.yaml")
    assert info.value.place == "steps[0].workflow"
    assert info.value.line == 4
    assert "nope.yaml" in str(info.value)


def test_registered_name() -> None:
    child = workflow_from_dict(RECEIPT)
    parent = workflow_from_dict(
        {"name": "p", "steps": [{"id": "r", "workflow": "receipt"}]},
        registry={"receipt": child},
    )
    assert parent.subworkflows["r"] is child
    assert parent.definition["steps"][0]["workflow_definition"] == child.definition
    # The stored copy reloads without the registry.
    assert workflow_from_dict(parent.definition).definition_hash == parent.definition_hash


def test_unregistered_name(tmp_path: Path) -> None:
    with pytest.raises(ActionNotFoundError) as info:
        workflow_from_dict(
            {"name": "p", "steps": [{"id": "r", "workflow": "receipt"}]}, base_dir=tmp_path
        )
    assert info.value.place == "steps[0].workflow"
    assert "registry" in str(info.value)


def test_name_falls_back_to_a_file(tmp_path: Path) -> None:
    (tmp_path / "receipt").mkdir()
    (tmp_path / "child.yaml").write_text("name: c\nsteps: [{id: a, uses: x}]\n")
    wf = workflow_from_dict(
        {"name": "p", "steps": [{"id": "r", "workflow": "child.yaml"}]}, base_dir=tmp_path
    )
    assert wf.subworkflows["r"].name == "c"


def test_workflow_that_includes_itself(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text(
        "name: loop\nsteps:\n  - id: again\n    workflow: loop.yaml\n"
    )
    with pytest.raises(RecursionLimitError) as info:
        load_workflow(tmp_path / "loop.yaml")
    assert "includes itself" in str(info.value)
    assert str(info.value).count("loop.yaml") >= 2


def test_mutual_inclusion(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nsteps:\n  - id: s\n    workflow: b.yaml\n")
    (tmp_path / "b.yaml").write_text("name: b\nsteps:\n  - id: s\n    workflow: a.yaml\n")
    with pytest.raises(RecursionLimitError) as info:
        load_workflow(tmp_path / "a.yaml")
    chain = str(info.value).split("includes itself: ", 1)[1]
    assert [Path(p.split(" (")[0]).name for p in chain.split(" -> ")] == [
        "a.yaml",
        "b.yaml",
        "a.yaml",
    ]


def write_chain(root: Path, length: int) -> Path:
    for i in range(length):
        step = f"workflow: w{i + 1}.yaml" if i + 1 < length else "uses: x"
        (root / f"w{i}.yaml").write_text(f"name: w{i}\nsteps:\n  - id: s\n    {step}\n")
    return root / "w0.yaml"


def test_depth_limit(tmp_path: Path) -> None:
    root = write_chain(tmp_path, 4)  # w0 -> w1 -> w2 -> w3: three levels of nesting
    assert load_workflow(root, max_depth=3).subworkflows["s"].name == "w1"
    with pytest.raises(RecursionLimitError) as info:
        load_workflow(root, max_depth=2)
    message = str(info.value)
    assert "max_depth=2" in message
    assert all(f"w{i}.yaml" in message for i in range(3))


def test_depth_limit_counts_registered_workflows(tmp_path: Path) -> None:
    inner = workflow_from_dict({"name": "inner", "steps": [{"id": "a", "uses": "x"}]})
    middle = workflow_from_dict(
        {"name": "m", "steps": [{"id": "i", "workflow": "inner"}]}, registry={"inner": inner}
    )
    data = {"name": "top", "steps": [{"id": "m", "workflow": "middle"}]}
    assert workflow_from_dict(data, registry={"middle": middle}, max_depth=2)
    with pytest.raises(RecursionLimitError):
        workflow_from_dict(data, registry={"middle": middle}, max_depth=1)


def test_yaml_text_with_base_dir(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("name: c\nsteps: [{id: a, uses: x}]\n")
    wf = workflow_from_yaml(
        textwrap.dedent(
            """\
            name: p
            steps:
              - id: c
                workflow: ./c.yaml
            """
        ),
        base_dir=tmp_path,
    )
    assert wf.subworkflows["c"].name == "c"
