"""The error diagnosis raises on bad input."""

from __future__ import annotations

from flowscope.errors import FlowscopeError


class DiagnosisError(FlowscopeError):
    """A diagnosis query has bad arguments, or the run asked about cannot be diagnosed."""
