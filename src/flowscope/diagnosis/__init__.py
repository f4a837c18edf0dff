"""Failure diagnosis: classify, root cause vs cascade, fingerprints, similar errors, fixes.

Everything reads the journal, past failures through the store's ``FailureSource``
(``diagnosis/failures.py``), and writes nothing. The engine classifies failures as they
happen (``flowscope.engine.classify``, re-exported here) and the store fingerprints them
when it records them (``flowscope.engine.fingerprint``). The seed-compatible methods
(``Diagnoser``, ``WorkflowDebugger.diagnose_error``...) live in :mod:`flowscope.compat`,
which also supplies the step durations that suggestions quote (:mod:`.durations`):
diagnosis imports neither analytics nor the debugger.
"""

from flowscope.diagnosis.config import DiagnosisConfig, load_config
from flowscope.diagnosis.durations import DurationSource, StepDurations
from flowscope.diagnosis.fingerprint import (
    compute_fingerprint,
    fingerprint_error,
    normalize_message,
)
from flowscope.diagnosis.result import Diagnosis
from flowscope.diagnosis.rootcause import Analysis, analyse_run
from flowscope.diagnosis.suggest import Suggestion
from flowscope.engine.classify import BUILTIN_RULES, DEFAULT_CLASSIFIER, Classifier, Rule
from flowscope.errors import DiagnosisError

__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_CLASSIFIER",
    "Analysis",
    "Classifier",
    "Diagnosis",
    "DiagnosisConfig",
    "DiagnosisError",
    "DurationSource",
    "Rule",
    "StepDurations",
    "Suggestion",
    "analyse_run",
    "compute_fingerprint",
    "fingerprint_error",
    "load_config",
    "normalize_message",
]
