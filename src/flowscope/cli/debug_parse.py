"""The console debugger's parsing: prompt lines, breakpoint specs, assignments, ids.

Nothing here touches a session or prints: each function turns typed text into values or
raises :class:`~flowscope.cli.options.CommandLineError` with a one-line fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowscope.cli.options import CommandLineError
from flowscope.debugger import BreakpointKind, HitCondition
from flowscope.errors import FlowscopeError
from flowscope.expressions import check_braces, compile_condition
from flowscope.model.workflow import Workflow

#: One word of a command line: quoted parts keep their quotes and may hold spaces.
_TOKEN = re.compile(r"""(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^\s"'])+""")
#: The options a breakpoint takes after where it is, each introduced by its keyword.
_BREAK_OPTIONS = ("if", "hits", "limit", "log")
_STEP_ID = re.compile(r"^[A-Za-z_][\w\-]*$")
#: ``--break WHERE:CONDITION``: the part before the first colon names where.
_BREAK_FLAG = re.compile(r"^\s*([^\s:]+(?:\s*->\s*[^\s:]+)?)\s*:(.*)$", re.DOTALL)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Split a command line into (word, start, end), keeping quoted parts together."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def unquote(text: str) -> str:
    """Drop one pair of matching quotes around ``text`` (and their backslash escapes)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


@dataclass(frozen=True, slots=True)
class BreakSpec:
    """A breakpoint as typed: where it is and its options (see :func:`parse_break`)."""

    kind: BreakpointKind
    step_id: str | None = None
    source: str | None = None
    workflow: str | None = None
    categories: tuple[str, ...] = ()
    condition: str | None = None
    hit_condition: str | None = None
    hit_limit: int | None = None
    log_message: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of :meth:`Session.set_breakpoint`."""
        return {"kind": self.kind.value, "source": self.source, "workflow": self.workflow,
                "categories": self.categories, "condition": self.condition,
                "hit_condition": self.hit_condition, "hit_limit": self.hit_limit,
                "log_message": self.log_message}


_BREAK_HINT = ("write e.g. 'b charge', 'b charge if vars.total > 100', 'b a -> b', 'b entry', "
               "'b error timeout', with options 'hits >= 3', 'limit 2', 'log \"x={vars.x}\"'")


def parse_break(text: str) -> BreakSpec:
    """Parse ``WHERE [if COND] [hits HIT] [limit N] [log MSG]``.

    WHERE is a step id, an edge ``A -> B``, ``entry [WORKFLOW]`` or ``error [CATEGORY...]``
    (also ``failure``). Each option keyword counts once, at its first appearance, so a
    condition may itself use ``if`` (``a if c else b``).

    Raises:
        CommandLineError: The text is not of that form, or the condition, hit condition or
            log message is invalid.
    """
    words = tokens(text)
    cuts: list[tuple[str, int, int]] = []  # (keyword, keyword start, value start)
    seen: set[str] = set()
    for word, start, end in words:
        if word in _BREAK_OPTIONS and word not in seen and (cuts or start > 0):
            seen.add(word)
            cuts.append((word, start, end))
    where = text[: cuts[0][1]] if cuts else text
    options: dict[str, str] = {}
    for i, (word, _, value_start) in enumerate(cuts):
        value_end = cuts[i + 1][1] if i + 1 < len(cuts) else len(text)
        value = text[value_start:value_end].strip()
        if not value:
            raise CommandLineError(f"breakpoint option {word!r} needs a value", hint=_BREAK_HINT)
        options[word] = value
    spec = _parse_where(where)
    limit: int | None = None
    if "limit" in options:
        if not options["limit"].isdigit() or int(options["limit"]) < 1:
            raise CommandLineError(f"limit {options['limit']!r} is not a positive whole number",
                                   hint="write e.g. 'limit 2' to stop at most twice")
        limit = int(options["limit"])
    condition = options.get("if")
    message = unquote(options["log"]) if "log" in options else None
    try:
        if condition is not None:
            compile_condition(condition)
        if message is not None:
            check_braces(message)
        if "hits" in options:
            HitCondition.parse(options["hits"])
    except FlowscopeError as exc:
        raise CommandLineError(str(exc)) from None
    return BreakSpec(spec.kind, spec.step_id, spec.source, spec.workflow, spec.categories,
                     condition, options.get("hits"), limit, message)


def _parse_where(where: str) -> BreakSpec:
    words = where.split()
    if not words:
        raise CommandLineError("a breakpoint needs a place", hint=_BREAK_HINT)
    head = words[0].lower()
    if head == "entry" and len(words) <= 2:
        return BreakSpec(BreakpointKind.ENTRY, workflow=words[1] if len(words) == 2 else None)
    if head in ("error", "failure"):
        return BreakSpec(BreakpointKind.FAILURE, categories=tuple(w.lower() for w in words[1:]))
    if "->" in where:
        source, _, target = where.partition("->")
        source, target = source.strip(), target.strip()
        if not (_STEP_ID.match(source) and _STEP_ID.match(target)):
            raise CommandLineError(f"bad edge {where.strip()!r}", hint=_BREAK_HINT)
        return BreakSpec(BreakpointKind.EDGE, step_id=target, source=source)
    if len(words) != 1 or not _STEP_ID.match(words[0]):
        raise CommandLineError(f"bad breakpoint place {where.strip()!r}", hint=_BREAK_HINT)
    return BreakSpec(BreakpointKind.STEP, step_id=words[0])


def parse_break_flag(text: str) -> BreakSpec:
    """Parse a ``--break`` value: ``STEP[:CONDITION]``, or anything :func:`parse_break` takes."""
    match = _BREAK_FLAG.match(text)
    if match and match.group(2).strip():
        spec = parse_break(match.group(1))
        try:
            compile_condition(match.group(2).strip())
        except FlowscopeError as exc:
            raise CommandLineError(f"--break {text!r}: {exc}") from None
        return BreakSpec(spec.kind, spec.step_id, spec.source, spec.workflow, spec.categories,
                         match.group(2).strip())
    if match:
        raise CommandLineError(f"--break {text!r} has an empty condition",
                               hint="write --break STEP or --break 'STEP:vars.x > 1'")
    try:
        return parse_break(text)
    except CommandLineError as exc:
        raise CommandLineError(f"--break {text!r}: {exc.message}", hint=exc.hint) from None


def step_ids(workflow: Workflow) -> dict[str, str]:
    """Every step id of a workflow and its sub-workflows -> the workflow it belongs to."""
    out: dict[str, str] = {}
    stack = [workflow]
    while stack:
        wf = stack.pop()
        for step in wf.steps:
            out.setdefault(step.id, wf.name)
        stack.extend(wf.subworkflows.values())
    return out


def check_steps(spec: BreakSpec, known: Mapping[str, str]) -> None:
    """Refuse a breakpoint on a step no workflow of the run has.

    Raises:
        CommandLineError: A step id of the spec is unknown.
    """
    for step in (spec.source, spec.step_id):
        if step is not None and step not in known:
            names = ", ".join(sorted(known)) or "none"
            raise CommandLineError(f"no step {step!r} in this workflow",
                                   hint=f"the steps are: {names}")


def split_assignment(text: str, command: str) -> tuple[str, str]:
    """Split ``PATH = EXPR`` (spaces optional) into its two parts."""
    path, sep, expr = text.partition("=")
    path, expr = path.strip(), expr.strip()
    if not sep or not path or not expr or " " in path:
        raise CommandLineError(f"{command} needs PATH = EXPRESSION",
                               hint=f"write e.g. {command} vars.total = 100")
    return path, expr


def parse_snapshot_id(text: str) -> int:
    """A snapshot id as typed (``3`` or ``#3``)."""
    text = text.strip().lstrip("#")
    if not text.isdigit():
        raise CommandLineError(f"{text!r} is not a snapshot id",
                               hint="list them with 'snapshots' and use a number")
    return int(text)
