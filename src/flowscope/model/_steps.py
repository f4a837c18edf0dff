"""Validate the parts of a definition: inputs, steps, retry policies, expressions.

Each function takes the raw (already plain) value and a :class:`Context`, and either
returns the validated model object or raises a ``DefinitionError`` naming the place.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Mapping
from typing import Any, NoReturn

from flowscope.errors import ExpressionSyntaxError, InvalidValueError
from flowscope.expressions import Expression, Template, compile_condition, compile_template
from flowscope.model._context import (
    Context,
    check_keys,
    copy_plain,
    did_you_mean,
    key_place,
    plain,
    text_field,
)
from flowscope.model.inputs import matches_type, type_name
from flowscope.model.values import parse_seconds
from flowscope.model.workflow import (
    ERROR_CATEGORIES,
    EXECUTORS,
    INPUT_TYPES,
    NEVER_RETRIED,
    ON_CRASH,
    InputSpec,
    RetryPolicy,
    Step,
)

STEP_KEYS = (
    "id", "uses", "workflow", "workflow_definition", "with", "needs", "if", "retry",
    "timeout", "set", "effects", "executor", "on_crash", "description",
)  # fmt: skip
INPUT_KEYS = ("type", "default", "required", "description")
RETRY_KEYS = ("attempts", "backoff", "max_backoff", "on", "jitter")

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXECUTOR_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_USES_PATH = re.compile(rf"^{_DOTTED}:{_DOTTED}$")
_USES_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_STEP_REF = re.compile(
    r"(?<![\w.])steps\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)"
    r"|\[\s*(?:'([^']*)'|\"([^\"]*)\")\s*\])"
)


def parse_inputs(raw: Any, ctx: Context) -> list[InputSpec]:
    """Validate the ``inputs`` mapping and return the input specs in order."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        ctx.fail(
            f"`inputs` must be a mapping of name to spec, got {type_name(raw)}",
            "inputs",
            hint="write e.g. `inputs: {order_id: {type: string, required: true}}`",
        )
    specs: list[InputSpec] = []
    for name, spec in raw.items():
        place = key_place("inputs", name)
        if not isinstance(name, str) or not _NAME.match(name):
            ctx.fail(
                f"input name {str(name)!r} is not a valid name",
                place,
                hint="use letters, digits and _, not starting with a digit",
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        elif spec is None:
            spec = {}
        elif not isinstance(spec, Mapping):
            ctx.fail(
                f"input spec must be a type name or a mapping, got {type_name(spec)}",
                place,
                hint="write e.g. `{type: string, required: true}`",
            )
        check_keys(spec, INPUT_KEYS, place, ctx, "input keys")
        kind = spec.get("type", "any")
        if kind not in INPUT_TYPES:
            ctx.fail(
                f"unknown input type {kind!r}",
                f"{place}.type",
                hint=did_you_mean(str(kind), list(INPUT_TYPES), "types"),
            )
        required = spec.get("required", False)
        if not isinstance(required, bool):
            ctx.fail("`required` must be true or false", f"{place}.required")
        has_default = "default" in spec
        default = plain(spec.get("default"), f"{place}.default", ctx)
        if has_default and default is not None and not matches_type(kind, default):
            ctx.fail(
                f"default {default!r} is {type_name(default)}, not {kind}",
                f"{place}.default",
                hint=f"give a {kind} default or change the type",
            )
        specs.append(
            InputSpec(
                name=name,
                type=kind,
                required=required,
                default=default,
                has_default=has_default,
                description=text_field(spec.get("description"), f"{place}.description", ctx),
            )
        )
    return specs


def input_definition(spec: InputSpec) -> dict[str, Any]:
    """Return the canonical definition of one input."""
    out: dict[str, Any] = {"type": spec.type, "required": spec.required}
    if spec.has_default:
        out["default"] = copy_plain(spec.default)
    if spec.description:
        out["description"] = spec.description
    return out


def parse_step_ids(raw_steps: list[Any], ctx: Context) -> dict[str, int]:
    """Check every step is a mapping with a valid, unique id; map id to index."""
    ids: dict[str, int] = {}
    for index, raw in enumerate(raw_steps):
        place = f"steps[{index}]"
        if not isinstance(raw, Mapping):
            ctx.fail(
                f"a step must be a mapping, got {type_name(raw)}",
                place,
                hint="write each step as `- id: name` followed by its keys",
            )
        step_id = raw.get("id")
        if step_id is None:
            ctx.fail("step has no `id`", place, hint="add `id: <name>` to the step")
        if not isinstance(step_id, str) or not _ID.match(step_id):
            ctx.fail(
                f"step id {step_id!r} is not valid",
                f"{place}.id",
                hint="use letters, digits, _ and -, starting with a letter or _",
            )
        if step_id in ids:
            ctx.fail(
                f"duplicate step id {step_id!r} (also steps[{ids[step_id]}])",
                f"{place}.id",
                hint="give each step a unique id",
            )
        ids[step_id] = index
    return ids


Refs = list[tuple[str, str, str]]  # (place, referenced step id, part: with/if/set)


def parse_step(
    raw: Mapping[str, Any], index: int, ids: Mapping[str, int], ctx: Context
) -> tuple[Step, Refs, dict[str, Any]]:
    """Validate one step; return it, the step ids it reads and its canonical definition.

    The loader adds ``workflow_definition`` to the canonical definition once the
    sub-workflow is loaded.
    """
    place = f"steps[{index}]"
    check_keys(raw, STEP_KEYS, place, ctx, "step keys")
    step_id: str = raw["id"]
    uses, workflow = raw.get("uses"), raw.get("workflow")
    if (uses is None) == (workflow is None):
        ctx.fail(
            f"step {step_id!r} has both `uses` and `workflow`"
            if uses is not None
            else f"step {step_id!r} has neither `uses` nor `workflow`",
            place,
            hint="give exactly one: `uses: pkg.mod:function` or `workflow: ./child.yaml`",
        )
    out: dict[str, Any] = {"id": step_id}
    if uses is not None:
        if not isinstance(uses, str) or not (_USES_PATH.match(uses) or _USES_NAME.match(uses)):
            ctx.fail(
                f"`uses` {uses!r} is neither 'package.module:function' nor a registered name",
                f"{place}.uses",
                hint="write e.g. `uses: myapp.tasks:send_email` or a name registered "
                "with the engine",
            )
        out["uses"] = uses
    else:
        if not isinstance(workflow, str) or not workflow.strip():
            ctx.fail(
                "`workflow` must be a path or a registered workflow name",
                f"{place}.workflow",
                hint="write e.g. `workflow: ./payment.yaml`",
            )
        out["workflow"] = workflow
    inline = raw.get("workflow_definition")
    if inline is not None and (workflow is None or not isinstance(inline, Mapping)):
        ctx.fail(
            "`workflow_definition` must be a mapping and goes with `workflow`",
            f"{place}.workflow_definition",
            hint="remove it, or add `workflow:` naming the sub-workflow",
        )
    refs: Refs = []
    with_plain = plain(raw.get("with") or {}, f"{place}.with", ctx)
    if not isinstance(with_plain, dict):
        ctx.fail("`with` must be a mapping of input name to value", f"{place}.with")
    with_template, with_refs = compile_value(with_plain, f"{place}.with", ctx)
    refs += [(p, r, "with") for p, r in with_refs]
    needs = _needs(raw.get("needs"), place, step_id, ids, ctx)
    if_raw = raw.get("if")
    condition: Expression | None = None
    if if_raw is not None:
        if not isinstance(if_raw, str | bool):
            ctx.fail("`if` must be an expression or true/false", f"{place}.if")
        try:
            condition = compile_condition(if_raw)
        except ExpressionSyntaxError as exc:
            _bad_expression(exc, f"{place}.if", ctx)
        if condition is not None:
            refs += [(f"{place}.if", r, "if") for r in _step_refs(condition.source)]
    retry = _retry(raw.get("retry"), f"{place}.retry", ctx)
    timeout = _timeout(raw.get("timeout"), f"{place}.timeout", ctx)
    set_plain = plain(raw.get("set") or {}, f"{place}.set", ctx)
    if not isinstance(set_plain, dict):
        ctx.fail("`set` must be a mapping of variable name to template", f"{place}.set")
    set_templates: dict[str, Template] = {}
    for var, value in set_plain.items():
        var_place = key_place(f"{place}.set", var)
        if not _NAME.match(var):
            ctx.fail(
                f"variable name {var!r} is not valid", var_place, hint="use letters, digits and _"
            )
        set_templates[var], set_refs = compile_value(value, var_place, ctx)
        refs += [(p, r, "set") for p, r in set_refs]
    effects = raw.get("effects")
    if effects is not None and effects != "external":
        ctx.fail(
            f"`effects` must be 'external', got {effects!r}",
            f"{place}.effects",
            hint="write `effects: external` for steps that touch the outside world, or remove it",
        )
    executor = raw.get("executor")
    if executor is not None and (not isinstance(executor, str)
                                 or not _EXECUTOR_NAME.match(executor)):
        ctx.fail(
            f"`executor` must be an executor name ({', '.join(EXECUTORS)} or one "
            f"registered with the engine), got {executor!r}",
            f"{place}.executor",
            hint="use `process` to run a step in its own process (CPU and peak memory are "
            "measured, a timeout kills it), `inline` for quick pure functions",
        )
    on_crash = raw.get("on_crash")
    if on_crash is not None and on_crash not in ON_CRASH:
        ctx.fail(
            f"`on_crash` must be one of {', '.join(ON_CRASH)}, got {on_crash!r}",
            f"{place}.on_crash",
            hint="`rerun` runs the step again with the same idempotency key, `fail` fails "
            "it, `ask` stops the run for a person to decide",
        )
    if on_crash is not None and effects != "external":
        ctx.fail("`on_crash` applies to steps with `effects: external`",
                 f"{place}.on_crash",
                 hint="add `effects: external` to the step, or remove `on_crash`")
    if executor is not None and workflow is not None:
        ctx.fail("`executor` applies to `uses` steps, not sub-workflows",
                 f"{place}.executor", hint="remove `executor` from this step")
    description = text_field(raw.get("description"), f"{place}.description", ctx)
    for key, value in (("with", with_plain), ("needs", list(needs)), ("if", if_raw)):
        if value:
            out[key] = value
    if isinstance(if_raw, bool):
        out["if"] = if_raw
    if raw.get("retry") is not None:
        out["retry"] = {
            "attempts": retry.attempts, "backoff": retry.backoff,
            "max_backoff": retry.max_backoff, "on": list(retry.on), "jitter": retry.jitter,
        }  # fmt: skip
    for key, value in (("timeout", timeout), ("set", set_plain), ("effects", effects),
                       ("executor", executor), ("on_crash", on_crash)):
        if value:
            out[key] = value
    if description:
        out["description"] = description
    step = Step(
        id=step_id,
        uses=uses,
        workflow=workflow,
        with_=copy_plain(with_plain),
        needs=needs,
        if_=(str(if_raw).lower() if isinstance(if_raw, bool) else if_raw),
        retry=retry,
        timeout=timeout,
        set=copy_plain(set_plain),
        effects=effects,
        executor=executor,
        on_crash=on_crash or "rerun",
        description=description,
        index=index,
        line=ctx.line(place),
        with_template=with_template,
        condition=condition,
        set_templates=set_templates,
    )
    return step, refs, out


def _needs(
    raw: Any, place: str, step_id: str, ids: Mapping[str, int], ctx: Context
) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        ctx.fail(
            f"`needs` must be a step id or a list of step ids, got {type_name(raw)}",
            f"{place}.needs",
            hint="write e.g. `needs: [check, reserve]`",
        )
    needs: list[str] = []
    for i, need in enumerate(items):
        need_place = f"{place}.needs" if isinstance(raw, str) else f"{place}.needs[{i}]"
        if not isinstance(need, str):
            ctx.fail(f"`needs` entries must be step ids, got {type_name(need)}", need_place)
        if need == step_id:
            ctx.fail(
                f"step {step_id!r} needs itself",
                need_place,
                hint="remove it from its own `needs`",
            )
        if need not in ids:
            ctx.fail(
                f"`needs` names unknown step {need!r}",
                need_place,
                hint=did_you_mean(need, list(ids), "step ids"),
            )
        if need not in needs:
            needs.append(need)
    return tuple(needs)


def _retry(raw: Any, place: str, ctx: Context) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if isinstance(raw, RetryPolicy):
        raw = {key: getattr(raw, key) for key in RETRY_KEYS}
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"attempts": raw}
    if not isinstance(raw, Mapping):
        ctx.fail(
            f"`retry` must be a number of attempts or a mapping, got {type_name(raw)}",
            place,
            hint="write e.g. `retry: 3` or `retry: {attempts: 3, backoff: 0.5}`",
        )
    check_keys(raw, RETRY_KEYS, place, ctx, "retry keys")
    attempts = raw.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        ctx.fail(
            f"`attempts` must be a whole number >= 1, got {attempts!r}",
            f"{place}.attempts",
            hint="1 means no retry; 3 means two retries",
        )
    numbers: dict[str, float] = {}
    for key, default in (("backoff", 1.0), ("max_backoff", 60.0)):
        value = raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not value >= 0
            or not math.isfinite(value)
        ):
            ctx.fail(
                f"`{key}` must be a number of seconds >= 0, got {value!r}",
                f"{place}.{key}",
                hint="write e.g. 0.5",
            )
        numbers[key] = float(value)
    on = raw.get("on")
    categories = list(RetryPolicy().on) if on is None else [on] if isinstance(on, str) else on
    if not isinstance(categories, list):
        ctx.fail("`on` must be a list of error categories", f"{place}.on")
    for i, category in enumerate(categories):
        if category not in ERROR_CATEGORIES:
            ctx.fail(
                f"unknown error category {category!r}",
                f"{place}.on" if isinstance(on, str) else f"{place}.on[{i}]",
                hint=did_you_mean(str(category), ERROR_CATEGORIES, "categories"),
            )
        if category in NEVER_RETRIED:
            ctx.fail(
                f"{category!r} errors are never retried: the same input fails the same way",
                f"{place}.on" if isinstance(on, str) else f"{place}.on[{i}]",
                hint="fix the step's input or code; retry only transient categories such as "
                "timeout, external_service or rate_limit",
            )
    jitter = raw.get("jitter", True)
    if not isinstance(jitter, bool):
        ctx.fail("`jitter` must be true or false", f"{place}.jitter")
    return RetryPolicy(
        attempts=attempts,
        backoff=numbers["backoff"],
        max_backoff=numbers["max_backoff"],
        on=tuple(dict.fromkeys(categories)),
        jitter=jitter,
    )


def _timeout(raw: Any, place: str, ctx: Context) -> float | None:
    if raw is None:
        return None
    try:
        return parse_seconds(raw, "`timeout`")
    except InvalidValueError:
        ctx.fail(
            f"`timeout` must be a positive number of seconds, got {raw!r}",
            place,
            hint='write e.g. 30, "30s", "2m" or "500ms"',
        )


# -- expressions ---------------------------------------------------------------------------


def _bad_expression(exc: ExpressionSyntaxError, place: str, ctx: Context) -> NoReturn:
    raise ctx.error(
        f"bad expression: {exc.message}",
        place,
        hint=exc.hint or "fix the expression inside ${{ }}",
    ) from exc


def compile_value(value: Any, place: str, ctx: Context) -> tuple[Template, list[tuple[str, str]]]:
    """Compile a template, naming the exact leaf of a syntax error; return step refs."""
    refs: list[tuple[str, str]] = []
    _compile_leaves(value, place, ctx, refs)
    try:
        template = compile_template(value)
    except ExpressionSyntaxError as exc:
        _bad_expression(exc, place, ctx)
    return template, refs


def _compile_leaves(value: Any, place: str, ctx: Context, refs: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _compile_leaves(item, key_place(place, key), ctx, refs)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _compile_leaves(item, f"{place}[{i}]", ctx, refs)
    elif isinstance(value, str):
        try:
            leaf = compile_template(value)
        except ExpressionSyntaxError as exc:
            _bad_expression(exc, place, ctx)
        for expression in leaf.expressions:
            refs.extend((place, ref) for ref in _step_refs(expression.source))


def _step_refs(source: str) -> list[str]:
    """Return the literal step ids an expression reads as ``steps.<id>``/``steps['<id>']``.

    Expressions are a subset of Python syntax, so the tree tells reads from look-alikes in
    string literals; the regular expression is only a fallback for text ``ast`` refuses.
    """
    body = source.strip()
    if body.startswith("${{") and body.endswith("}}"):
        body = body[3:-2].strip()
    try:
        with warnings.catch_warnings():  # invalid escapes only warn; -W error would raise
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except (SyntaxError, ValueError):
        return [m.group(1) or m.group(2) or m.group(3) or "" for m in _STEP_REF.finditer(source)]
    refs: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_steps(node.value):
            refs.append(node.attr)
        elif (
            isinstance(node, ast.Subscript)
            and _is_steps(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            refs.append(node.slice.value)
    return refs


def _is_steps(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "steps"


def check_refs(
    step: Step, refs: Refs, ids: Mapping[str, int], ancestors: set[str], ctx: Context
) -> None:
    """Fail when a step reads ``steps.<id>`` of an unknown step or of one it does not need."""
    for place, raw_ref, part in refs:
        ref = raw_ref
        if ref not in ids and "-" in ref and ref.split("-", 1)[0] in ids:
            ref = ref.split("-", 1)[0]  # `steps.a-b` parsed as `steps.a - b`
        if ref not in ids:
            unknown_ref(raw_ref, place, ids, ctx)
        if ref == step.id:
            if part == "set":
                continue  # `set` runs after the step, its own output exists
            ctx.fail(
                f"step {step.id!r} reads its own output (steps.{ref}) in `{part}`",
                place,
                hint="a step's output only exists after it runs; use `output` in `set`",
            )
        if ref not in ancestors:
            ctx.fail(
                f"step {step.id!r} reads steps.{ref} but does not need it, so its output "
                "may not exist yet",
                place,
                hint=f"add {ref!r} to the `needs` of step {step.id!r}",
            )


def unknown_ref(ref: str, place: str, ids: Mapping[str, int], ctx: Context) -> NoReturn:
    """Fail for an expression reading ``steps.<ref>`` when no step has that id."""
    hyphenated = [i for i in ids if i.startswith(f"{ref}-")]
    hint = (
        f"`steps.{hyphenated[0]}` reads as steps.{ref} minus ...; write "
        f"steps['{hyphenated[0]}'] for an id with '-'"
        if hyphenated
        else did_you_mean(ref, list(ids), "step ids")
    )
    ctx.fail(f"expression reads steps.{ref}, but no step has id {ref!r}", place, hint=hint)
