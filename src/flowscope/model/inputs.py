"""Run inputs: check them against a workflow's declared inputs, and read them from a CLI.

The loader uses :func:`matches_type` to check declared defaults; the engine and the front
ends call :func:`validate_inputs` when a run starts and :func:`coerce_cli_input` for
``key=value`` arguments typed on a command line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from flowscope.errors import InputError
from flowscope.model.workflow import INPUT_TYPES, Workflow

__all__ = ["coerce_cli_input", "matches_type", "type_name", "validate_inputs"]

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def matches_type(spec_type: str, value: Any) -> bool:
    """Return whether ``value`` is acceptable for an input declared as ``spec_type``.

    ``bool`` is a subclass of ``int`` in Python, but ``true`` is not a number in a
    workflow definition, so booleans are refused for ``integer`` and ``number``.
    """
    if spec_type == "any":
        return True
    if spec_type in ("integer", "number") and isinstance(value, bool):
        return False
    if spec_type == "number" and isinstance(value, float) and not math.isfinite(value):
        return False
    if spec_type == "object":
        return isinstance(value, Mapping)
    return isinstance(value, INPUT_TYPES[spec_type])


def type_name(value: Any) -> str:
    """Return the definition-language name of a value's type (``string``, ``integer``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def validate_inputs(workflow: Workflow, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a run's inputs against the workflow's declared inputs and fill in defaults.

    Declared inputs that are optional and have no default are filled with ``None`` so
    that ``inputs.<name>`` always evaluates. ``null`` is accepted for optional inputs.

    Args:
        workflow: The workflow about to run.
        inputs: The inputs given to the run (``None``: none).

    Returns:
        A new dict holding every declared input.

    Raises:
        InputError: Listing every missing required input, unknown input and value of
            the wrong type, with how to fix each.
    """
    given = dict(inputs or {})
    specs = {spec.name: spec for spec in workflow.inputs}
    problems: list[str] = []
    for key in given:
        if key not in specs:
            declared = ", ".join(sorted(specs)) or "none"
            problems.append(
                f"unknown input {key!r} (workflow {workflow.name!r} declares: {declared}); "
                "remove it or declare it under `inputs`"
            )
    result: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in given:
            if spec.has_default:
                result[name] = spec.default
            elif spec.required:
                problems.append(
                    f"missing required input {name!r} ({spec.type}); pass it, "
                    f"e.g. `{name}=...` on the command line"
                )
            else:
                result[name] = None
            continue
        value = given[name]
        optional = not spec.required or spec.has_default
        if not (value is None and optional) and not matches_type(spec.type, value):
            problems.append(
                f"input {name!r} must be {_article(spec.type)} {spec.type}, "
                f"got {type_name(value)} {_preview(value)}; pass {_article(spec.type)} "
                f"{spec.type}"
            )
            continue
        result[name] = value
    if problems:
        raise InputError(
            f"bad inputs for workflow {workflow.name!r}: " + "; ".join(problems),
            hint="see the workflow's `inputs` section for names and types",
        )
    return result


def coerce_cli_input(spec_type: str, text: str) -> Any:
    """Turn the text of a ``key=value`` command-line argument into the declared type.

    ``object`` and ``array`` are read as JSON; ``boolean`` accepts ``true``/``false``
    (also ``yes``/``no``, ``on``/``off``, ``1``/``0``); ``any`` is read as JSON when it
    parses and kept as a string otherwise.

    Raises:
        InputError: When the type is unknown or the text does not fit it.
    """
    if spec_type not in INPUT_TYPES:
        raise InputError(
            f"unknown input type {spec_type!r}",
            hint="use one of: " + ", ".join(INPUT_TYPES),
        )
    if spec_type == "string":
        return text
    if spec_type == "boolean":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InputError(f"{text!r} is not a boolean", hint="write true or false")
    if spec_type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise InputError(
                f"{text!r} is not an integer", hint="write a whole number, e.g. 3"
            ) from None
    if spec_type == "number":
        return _coerce_number(text)
    if spec_type == "any":
        try:
            return json.loads(text)
        except ValueError:
            return text
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(
            f"{text!r} is not valid JSON for an {spec_type}: {exc}",
            hint='write JSON, e.g. {"a": 1}'
            if spec_type == "object"
            else "write JSON, e.g. [1, 2]",
        ) from exc
    if not matches_type(spec_type, value):
        raise InputError(
            f"{text!r} is JSON {type_name(value)}, not {_article(spec_type)} {spec_type}",
            hint='write a JSON object, e.g. {"a": 1}'
            if spec_type == "object"
            else "write a JSON array, e.g. [1, 2]",
        )
    return value


def _coerce_number(text: str) -> int | float:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        value = float(stripped)
    except ValueError:
        raise InputError(f"{text!r} is not a number", hint="write a number, e.g. 2.5") from None
    if not math.isfinite(value):
        raise InputError(f"{text!r} is not a finite number", hint="write a number, e.g. 2.5")
    return value


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
