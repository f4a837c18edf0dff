"""Load workflow definitions from YAML, JSON or dicts, and validate them.

Every problem is a :class:`~flowscope.errors.DefinitionError` naming the place in the
definition (``steps[2].needs[0]``), the line in the YAML file when known, and the fix.
Validation is done once, here: the :class:`~flowscope.model.workflow.Workflow` that comes
out is trusted by the engine.

User code is never imported here: ``uses`` is only checked for its form, and the engine
resolves it when the step runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from flowscope.errors import ActionNotFoundError, DefinitionError, RecursionLimitError
from flowscope.model._context import Context, check_keys, copy_plain, key_place, plain, text_field
from flowscope.model._graph import ancestor_sets, check_cycles
from flowscope.model._steps import (
    check_refs,
    compile_value,
    input_definition,
    parse_inputs,
    parse_step,
    parse_step_ids,
    unknown_ref,
)
from flowscope.model.inputs import type_name
from flowscope.model.workflow import Step, Workflow

__all__ = [
    "TOP_KEYS",
    "definition_hash",
    "load_workflow",
    "workflow_from_dict",
    "workflow_from_json",
    "workflow_from_yaml",
    "yaml_line_map",
]

TOP_KEYS = ("name", "version", "description", "inputs", "steps", "outputs")
_WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")


# -- public entry points -------------------------------------------------------------------


def load_workflow(
    path: str | os.PathLike[str],
    *,
    max_depth: int = 10,
    registry: Mapping[str, Workflow] | None = None,
) -> Workflow:
    """Load and validate a workflow file (``.yaml``, ``.yml`` or ``.json``).

    Sub-workflows named by path are resolved relative to the file's directory.

    Raises:
        DefinitionError: The file is missing, unreadable or the definition is invalid.
    """
    return _load_file(Path(path), max_depth, registry or {}, ())


def workflow_from_dict(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    base_dir: Path | None = None,
    max_depth: int = 10,
    registry: Mapping[str, Workflow] | None = None,
    lines: Mapping[str, int] | None = None,
) -> Workflow:
    """Validate a definition given as a plain mapping and build the workflow.

    Args:
        data: The definition (the shape of the YAML format).
        source: Where it came from, for messages.
        base_dir: Directory that relative sub-workflow paths start from (default: cwd).
        max_depth: How deep sub-workflows may nest.
        registry: Workflows that steps may name in ``workflow:``.
        lines: Place (``steps[1].needs``) to 1-based line, for messages.

    Raises:
        DefinitionError: Naming the place, line and fix of the first problem found.
    """
    ctx = Context(source, base_dir, max_depth, registry or {}, lines or {}, ())
    return _build(data, ctx)


def workflow_from_yaml(
    text: str,
    *,
    source: str | None = None,
    base_dir: Path | None = None,
    max_depth: int = 10,
    registry: Mapping[str, Workflow] | None = None,
) -> Workflow:
    """Parse and validate a YAML definition; messages carry the YAML line numbers."""
    ctx = Context(source, base_dir, max_depth, registry or {}, {}, ())
    return _from_yaml(text, ctx)


def workflow_from_json(
    text: str,
    *,
    source: str | None = None,
    base_dir: Path | None = None,
    max_depth: int = 10,
    registry: Mapping[str, Workflow] | None = None,
) -> Workflow:
    """Parse and validate a JSON definition."""
    ctx = Context(source, base_dir, max_depth, registry or {}, {}, ())
    return _from_json(text, ctx)


def definition_hash(definition: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex digest of a definition's canonical JSON."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def yaml_line_map(node: yaml.Node) -> dict[str, int]:
    """Map each place in a composed YAML document to its 1-based line.

    A mapping entry's place points at its key's line; a sequence item at its start.
    """
    out: dict[str, int] = {}
    _walk_lines(node, "", out, 0)
    return out


# -- text formats --------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so that ``on:`` (retry.on) stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _from_yaml(text: str, ctx: Context) -> Workflow:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        raise DefinitionError(
            f"invalid YAML: {problem}",
            line=mark.line + 1 if mark is not None else None,
            source=ctx.source,
            hint="fix the YAML syntax at that line (indentation, quotes, colons)",
        ) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(
            f"invalid YAML: {exc}", source=ctx.source, hint="fix the YAML syntax"
        ) from exc
    finally:
        loader.dispose()
    lines = yaml_line_map(node) if node is not None else {}
    return _build(data, replace(ctx, lines=lines))


def _from_json(text: str, ctx: Context) -> Workflow:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"invalid JSON: {exc.msg} at column {exc.colno}",
            line=exc.lineno,
            source=ctx.source,
            hint="fix the JSON syntax at that line",
        ) from exc
    return _build(data, replace(ctx, lines=_json_lines(text)))


def _json_lines(text: str) -> dict[str, int]:
    """Return the place-to-line map of a JSON text, read with YAML's composer.

    JSON is nearly a subset of YAML; where the two disagree (tabs, some escapes) the
    messages simply go without line numbers.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()
    return yaml_line_map(node) if node is not None else {}


def _load_file(
    path: Path, max_depth: int, registry: Mapping[str, Workflow], chain: tuple[str, ...]
) -> Workflow:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in _WORKFLOW_SUFFIXES:
        raise DefinitionError(
            f"cannot tell the format of {source!r} from its suffix",
            source=source,
            hint="name the file *.yaml, *.yml or *.json",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DefinitionError(
            "workflow file not found", source=source, hint="check the path"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(
            f"cannot read workflow file: {exc}", source=source, hint="check the file"
        ) from exc
    resolved = path.resolve()
    ctx = Context(source, resolved.parent, max_depth, registry, {}, chain, file=resolved)
    return _from_yaml(text, ctx) if suffix != ".json" else _from_json(text, ctx)


def _walk_lines(node: yaml.Node, place: str, out: dict[str, int], depth: int) -> None:
    if depth > 200:  # a recursive alias; deeper places fall back to their parents
        return
    if place:
        out.setdefault(place, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = key_place(place, key.value)
                out.setdefault(child, key.start_mark.line + 1)
                _walk_lines(value, child, out, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_lines(item, f"{place}[{index}]", out, depth + 1)


# -- the definition ------------------------------------------------------------------------


def _build(data: Any, ctx: Context) -> Workflow:
    if not isinstance(data, Mapping):
        ctx.fail(
            f"a workflow definition must be a mapping, got {type_name(data)}",
            "",
            hint="start the file with `name:` and `steps:` keys",
        )
    check_keys(data, TOP_KEYS, "", ctx, "top-level keys")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        ctx.fail(
            "the workflow needs a `name` (a non-empty string)"
            if name is None
            else f"`name` must be a non-empty string, got {type_name(name)}",
            "name",
            hint="add e.g. `name: order-fulfilment` at the top",
        )
    version = data.get("version", "1")
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        ctx.fail(
            f"`version` must be a string or number, got {type_name(version)}",
            "version",
            hint='write e.g. version: "2"',
        )
    description = text_field(data.get("description"), "description", ctx)
    inputs = parse_inputs(data.get("inputs"), ctx)
    ctx = replace(ctx, chain=(*ctx.chain, _chain_label(name, ctx)))
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        ctx.fail(
            "the workflow needs `steps`: a non-empty list"
            if raw_steps is None
            else "`steps` must be a non-empty list"
            + ("" if raw_steps == [] else f", got {type_name(raw_steps)}"),
            "steps",
            hint="add a list of steps, each like `- id: first` with `uses: pkg.mod:function`",
        )
    ids = parse_step_ids(raw_steps, ctx)
    parsed = [parse_step(raw, index, ids, ctx) for index, raw in enumerate(raw_steps)]
    steps = [step for step, _, _ in parsed]
    check_cycles(steps, ctx)
    ancestors = ancestor_sets(steps)
    for step, refs, _ in parsed:
        check_refs(step, refs, ids, ancestors[step.id], ctx)
    outputs_plain = plain(data.get("outputs") or {}, "outputs", ctx)
    if not isinstance(outputs_plain, dict):
        ctx.fail("`outputs` must be a mapping of name to template", "outputs")
    outputs_template, out_refs = compile_value(outputs_plain, "outputs", ctx)
    for place, ref in out_refs:
        if ref not in ids:
            unknown_ref(ref, place, ids, ctx)
    subworkflows: dict[str, Workflow] = {}
    step_defs: list[dict[str, Any]] = []
    for (step, _, step_def), raw in zip(parsed, raw_steps, strict=True):
        if step.workflow is not None:
            child = _subworkflow(step, raw.get("workflow_definition"), ctx)
            subworkflows[step.id] = child
            step_def["workflow_definition"] = copy_plain(child.definition)
        step_defs.append(step_def)
    definition: dict[str, Any] = {"name": name, "version": str(version), "steps": step_defs}
    if description:
        definition["description"] = description
    if inputs:
        definition["inputs"] = {spec.name: input_definition(spec) for spec in inputs}
    if outputs_plain:
        definition["outputs"] = outputs_plain
    return Workflow(
        name=name,
        steps=tuple(steps),
        version=str(version),
        description=description,
        inputs=tuple(inputs),
        outputs=copy_plain(outputs_plain),
        outputs_template=outputs_template,
        source=_workflow_source(ctx),
        definition=definition,
        definition_hash=definition_hash(definition),
        subworkflows=subworkflows,
    )


def _workflow_source(ctx: Context) -> str | None:
    if ctx.prefix:  # an inline sub-workflow has no file of its own
        return None
    return str(ctx.file) if ctx.file is not None else ctx.source


def _chain_label(name: str, ctx: Context) -> str:
    if ctx.file is not None and not ctx.prefix:
        return str(ctx.file)
    return name


# -- sub-workflows -------------------------------------------------------------------------


def _subworkflow(step: Step, inline: Mapping[str, Any] | None, ctx: Context) -> Workflow:
    ref = step.workflow or ""
    place = f"steps[{step.index}].workflow"
    depth = len(ctx.chain)  # the parent is at depth len(chain) - 1
    if depth > ctx.max_depth:
        _too_deep([*ctx.chain, ref], place, ctx)
    if inline is not None:
        child_ctx = replace(
            ctx, prefix=ctx.place(f"steps[{step.index}].workflow_definition."), file=None
        )
        return _build(inline, child_ctx)
    looks_like_path = ref.endswith(_WORKFLOW_SUFFIXES) or "/" in ref or "\\" in ref
    if not looks_like_path and ref in ctx.registry:
        return _registered(ref, place, ctx)
    path = Path(ref)
    if not path.is_absolute():
        path = (ctx.base_dir or Path.cwd()) / path
    if path.is_file():
        resolved = str(path.resolve())
        if resolved in ctx.chain:
            ctx.fail(
                "workflow includes itself: " + " -> ".join([*ctx.chain, resolved]),
                place,
                hint="a sub-workflow cannot contain the workflow that runs it",
                cls=RecursionLimitError,
            )
        return _load_file(Path(resolved), ctx.max_depth, ctx.registry, ctx.chain)
    if ref in ctx.registry:
        return _registered(ref, place, ctx)
    if looks_like_path:
        ctx.fail(
            f"sub-workflow file {ref!r} not found (looked at {path})",
            place,
            hint="check the path; a relative path starts from the parent file's directory",
            cls=ActionNotFoundError,
        )
    known = ", ".join(sorted(ctx.registry)) or "none"
    ctx.fail(
        f"no workflow registered as {ref!r} and no file of that name",
        place,
        hint=f"register it (registry={{{ref!r}: workflow}}; registered: {known}) or give a "
        "path like ./child.yaml",
        cls=ActionNotFoundError,
    )


def _registered(ref: str, place: str, ctx: Context) -> Workflow:
    child = ctx.registry[ref]
    if len(ctx.chain) + _nesting(child) > ctx.max_depth:
        _too_deep([*ctx.chain, ref, "..."], place, ctx)
    return child


def _nesting(workflow: Workflow) -> int:
    return max((1 + _nesting(w) for w in workflow.subworkflows.values()), default=0)


def _too_deep(chain: Sequence[str], place: str, ctx: Context) -> NoReturn:
    ctx.fail(
        f"sub-workflows nest deeper than max_depth={ctx.max_depth}: " + " -> ".join(chain),
        place,
        hint="flatten the workflows or raise max_depth",
        cls=RecursionLimitError,
    )
