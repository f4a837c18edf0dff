"""Diagnosis configuration: user classification rules and the similarity threshold.

The file is ``flowscope.yaml`` in the working directory, or the path in the environment
variable ``FLOWSCOPE_CONFIG``. Only the ``classification`` section is read here::

    classification:
      rules:
        - {category: rate_limit, message: "quota exceeded"}
        - {category: external_service, exception: [PaymentGatewayDown], status: [502]}
      similarity_threshold: 0.8
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flowscope.engine.classify import Classifier, Rule, rule_from_dict
from flowscope.errors import DiagnosisError, FlowscopeError

#: Environment variable naming the configuration file.
CONFIG_ENV = "FLOWSCOPE_CONFIG"
#: The configuration file looked for in the working directory.
DEFAULT_CONFIG = "flowscope.yaml"
#: Near matches need at least this normalised-message similarity (difflib ratio, 0-1).
DEFAULT_SIMILARITY = 0.8


@dataclass(frozen=True, slots=True)
class DiagnosisConfig:
    """What the configuration file says about diagnosis."""

    rules: tuple[Rule, ...] = ()
    """User classification rules, tried before the built-in ones."""
    similarity_threshold: float = DEFAULT_SIMILARITY
    """Minimum message similarity for a near match."""
    path: str | None = None
    """The file read (``None`` when there was none)."""

    def classifier(self) -> Classifier:
        """Return a classifier with these rules (pass it as ``Engine(classify=...)``)."""
        return Classifier(self.rules)


def load_config(path: str | os.PathLike[str] | None = None) -> DiagnosisConfig:
    """Read the diagnosis configuration (defaults when there is no file).

    Args:
        path: The file; default ``$FLOWSCOPE_CONFIG``, else ``./flowscope.yaml`` if present.

    Raises:
        DiagnosisError: The file is missing (when named explicitly), unreadable, not YAML,
            or holds a bad rule.
    """
    data, source = read_config_file(path)
    if source is None:
        return DiagnosisConfig()
    return config_from_dict(data, source=source)


def read_config_file(path: str | os.PathLike[str] | None = None) -> tuple[Any, str | None]:
    """Read ``flowscope.yaml`` (or ``path``, or ``$FLOWSCOPE_CONFIG``) once, for every section.

    Returns the parsed data (``{}`` when empty) and the file read (``None``: there was
    none, which is fine unless a file was named explicitly).

    Raises:
        DiagnosisError: A named file is missing, or the file is unreadable or not YAML.
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV, "").strip())
    chosen = Path(path if path is not None else
                  (os.environ.get(CONFIG_ENV, "").strip() or DEFAULT_CONFIG))
    if not chosen.exists():
        if explicit:
            raise DiagnosisError(f"configuration file {str(chosen)!r} not found",
                                 hint=f"fix the path or unset {CONFIG_ENV}")
        return {}, None
    try:
        data = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnosisError(f"cannot read configuration file {str(chosen)!r}: {exc}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise DiagnosisError(f"configuration file {str(chosen)!r} is not valid YAML: {detail}",
                             hint="fix the file's syntax") from None
    return data or {}, str(chosen)


def config_from_dict(data: Any, *, source: str = "<config>") -> DiagnosisConfig:
    """Build the configuration from the parsed file.

    Raises:
        DiagnosisError: The ``classification`` section is malformed.
    """
    if not isinstance(data, Mapping):
        raise DiagnosisError(f"{source}: the configuration must be a mapping",
                             hint="write e.g. classification: {rules: [...]}")
    section = data.get("classification") or {}
    if not isinstance(section, Mapping):
        raise DiagnosisError(f"{source}: 'classification' must be a mapping",
                             hint="write classification: {rules: [...]}")
    raw_rules = section.get("rules") or []
    if not isinstance(raw_rules, list):
        raise DiagnosisError(f"{source}: classification.rules must be a list",
                             hint="write rules: [{category: ..., message: ...}]")
    rules = []
    for i, raw in enumerate(raw_rules):
        try:
            rules.append(rule_from_dict(raw))
        except FlowscopeError as exc:
            raise DiagnosisError(f"{source}: classification.rules[{i}]: {exc.message}",
                                 hint=exc.hint) from None
    threshold = section.get("similarity_threshold", DEFAULT_SIMILARITY)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
        0 < threshold <= 1
    ):
        raise DiagnosisError(
            f"{source}: classification.similarity_threshold {threshold!r} is not in (0, 1]",
            hint="write e.g. similarity_threshold: 0.8",
        )
    return DiagnosisConfig(tuple(rules), float(threshold), source)
