"""The step graph: cycle detection and ancestor sets over ``needs``."""

from __future__ import annotations

from flowscope.errors import CycleError
from flowscope.model._context import Context
from flowscope.model.workflow import Step

__all__ = ["ancestor_sets", "check_cycles"]


def check_cycles(steps: list[Step], ctx: Context) -> None:
    """Raise CycleError naming a cycle in run order, if the ``needs`` form one."""
    by_id = {s.id: s for s in steps}
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in steps:
        if root.id in state:
            continue
        stack: list[tuple[str, int]] = [(root.id, 0)]
        path: list[str] = [root.id]
        state[root.id] = 1
        while stack:
            node, i = stack[-1]
            needs = by_id[node].needs
            if i == len(needs):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, i + 1)
            nxt = needs[i]
            if state.get(nxt) == 1:
                # path runs along `needs`; reverse it so the cycle reads in run order.
                cycle = list(reversed(path[path.index(nxt) :]))
                first = min(range(len(cycle)), key=lambda k: by_id[cycle[k]].index)
                cycle = cycle[first:] + cycle[:first]
                at = by_id[cycle[0]].index
                raise CycleError(
                    cycle,
                    place=ctx.place(f"steps[{at}].needs"),
                    line=ctx.line(f"steps[{at}].needs"),
                    source=ctx.source,
                )
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, 0))
                path.append(nxt)


def ancestor_sets(steps: list[Step]) -> dict[str, set[str]]:
    """Map each step id to the ids it needs, directly or transitively (graph acyclic)."""
    by_id = {s.id: s for s in steps}
    memo: dict[str, set[str]] = {}

    def visit(step_id: str) -> set[str]:
        if step_id not in memo:
            found: set[str] = set()
            for need in by_id[step_id].needs:
                found.add(need)
                found |= visit(need)
            memo[step_id] = found
        return memo[step_id]

    order = _topological(steps)
    for step_id in order:  # children first, so recursion stays shallow
        visit(step_id)
    return memo


def _topological(steps: list[Step]) -> list[str]:
    remaining = {s.id: len(s.needs) for s in steps}
    dependents: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for need in s.needs:
            dependents[need].append(s.id)
    ready = [s.id for s in steps if not s.needs]
    order: list[str] = []
    while ready:
        current = ready.pop()
        order.append(current)
        for dep in dependents[current]:
            remaining[dep] -= 1
            if remaining[dep] == 0:
                ready.append(dep)
    return order
