"""Failure diagnosis: classify, root cause vs cascade, fingerprints, similar errors, fixes.

Everything reads the journal (and the ``error_fingerprints`` index on SQL stores); the
engine only classifies failures as they happen (``flowscope.engine.classify``, re-exported
here).
"""

from flowscope.diagnosis._errors import DiagnosisError
from flowscope.diagnosis.config import DiagnosisConfig, load_config
from flowscope.diagnosis.facade import Diagnoser, Diagnosis, DiagnosisMixin
from flowscope.diagnosis.fingerprint import (
    compute_fingerprint,
    fingerprint_error,
    normalize_message,
)
from flowscope.diagnosis.rootcause import Analysis, analyse_run
from flowscope.diagnosis.suggest import Suggestion
from flowscope.engine.classify import BUILTIN_RULES, DEFAULT_CLASSIFIER, Classifier, Rule

__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_CLASSIFIER",
    "Analysis",
    "Classifier",
    "Diagnoser",
    "Diagnosis",
    "DiagnosisConfig",
    "DiagnosisError",
    "DiagnosisMixin",
    "Rule",
    "Suggestion",
    "analyse_run",
    "compute_fingerprint",
    "fingerprint_error",
    "load_config",
    "normalize_message",
]
