"""What diagnosis finds about one failure: the :class:`Diagnosis` value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowscope.diagnosis.suggest import Suggestion
from flowscope.engine.records import ErrorInfo


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What is known about one failure."""

    category: str
    fingerprint: str
    message: str
    error_type: str
    suggestions: list[Suggestion] = field(default_factory=list)
    similar: list[dict[str, Any]] = field(default_factory=list)
    """Past failures: the exact-fingerprint group first, then near matches."""
    root_cause: dict[str, Any] | None = None
    """``{"run_id", "step_id", "workflow"}``; ``None`` for a bare exception."""
    cascade: list[dict[str, Any]] = field(default_factory=list)
    """What the failures caused: ``run_id``, ``step_id``, ``status``, ``cause_step_id``
    (and ``cause_run_id``, ``reason``, ``origin``)."""
    other_roots: list[dict[str, Any]] = field(default_factory=list)
    """Independent failures that happened after the root cause."""
    run_id: str | None = None
    """The run diagnosed (``None`` for a bare exception)."""
    error: ErrorInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the stack trace text left out)."""
        return {
            "run_id": self.run_id, "category": self.category, "fingerprint": self.fingerprint,
            "error_type": self.error_type, "message": self.message,
            "root_cause": self.root_cause, "other_roots": self.other_roots,
            "cascade": self.cascade,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "similar": self.similar,
        }
