"""``WorkflowDebugger``: the debugger's seed-compatible facade with the diagnosis methods.

The debugger room keeps its facade free of diagnosis (the two rooms are peers); this
class composes the two, so ``flowscope.WorkflowDebugger`` still offers every seed
method: breakpoints, stepping and snapshots from the debugger, ``diagnose_error``,
``suggest_fix``, ``generate_error_report``... from :class:`DiagnosisMixin`.
"""

from __future__ import annotations

from flowscope.compat.diagnosis import DiagnosisMixin
from flowscope.debugger import facade

__all__ = ["WorkflowDebugger"]


class WorkflowDebugger(DiagnosisMixin, facade.WorkflowDebugger):
    """The debugger's seed-compatible API plus the diagnosis methods.

    Args:
        engine: Attach to this engine (None: standalone bookkeeping).
        max_snapshots: Bound of the in-memory snapshot ring (oldest dropped).
        user: The owner of the debug session.
    """
