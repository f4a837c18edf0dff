"""The seed-compatible facades, composed from the rooms that do the work.

- :class:`WorkflowDebugger`: the debugger's facade plus the diagnosis methods.
- :class:`WorkflowAnalyticsEngine` and :func:`get_analytics_engine`: tracking and
  queries over the analytics room.
- :class:`Diagnoser`: the diagnosis methods on their own, with the step durations taken
  from analytics (so ``flowscope why`` and ``flowscope stats`` agree).

This is the one room that may join the debugger, diagnosis and analytics; they never
import each other.
"""

from __future__ import annotations

from flowscope.compat.analytics import WorkflowAnalyticsEngine, get_analytics_engine
from flowscope.compat.debugger import WorkflowDebugger
from flowscope.compat.diagnosis import AnalyticsDurations, Diagnoser, DiagnosisMixin

__all__ = [
    "AnalyticsDurations", "Diagnoser", "DiagnosisMixin", "WorkflowAnalyticsEngine",
    "WorkflowDebugger", "get_analytics_engine",
]
