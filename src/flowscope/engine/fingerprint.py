"""Fingerprints: one stable hash per bug, the same across runs and versions.

A fingerprint is the short SHA-256 of:

- the exception type (as stored: qualified unless a builtin),
- the workflow and the step where it happened,
- the message, *normalised*: the parts that change from one occurrence of a bug to the
  next (ids, numbers, UUIDs, hex, timestamps, paths, emails, URL query values, quoted
  values) are replaced by placeholders such as ``<n>`` and ``<uuid>``,
- the innermost :data:`TOP_FRAMES` frames of user code, as ``file-basename:function``
  (no line numbers: a line moving in an edit does not make a new bug).

It lives in the engine room because it is computed when a failure is recorded: the store
writes each failed attempt's fingerprint row in the attempt's own transaction, so readers
(``flowscope errors``, similar errors) never write. :mod:`flowscope.diagnosis.fingerprint`
re-exports these names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from flowscope.engine.records import ErrorInfo, Failure, FrameInfo, StepAttemptRecord

#: Type name of the error a sub-workflow step fails with when its child run failed.
CHILD_FAILED = "ChildRunFailedError"
#: How many user frames (innermost first) take part in a fingerprint.
TOP_FRAMES = 3
#: Hex digits kept of the SHA-256.
FINGERPRINT_LENGTH = 16
#: Normalised messages are cut to this many characters (a huge message is one bug too).
MAX_MESSAGE = 500

_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL query values: keep the keys, which say what was asked.
    (re.compile(r"([?&][^=&#\s'\"]+=)[^&#\s'\"]*"), r"\1<v>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                r"[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?"), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<ts>"),
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<q>"),
    # Paths (not the path of a URL, whose segments the number rule below handles).
    (re.compile(r"(?:\b[A-Za-z]:|(?<![:\w/\\]))(?:[\\/][\w.@~+-]+){2,}[\\/]?"), "<path>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    # Bare hex (hashes, short ids), but not the digits of a float like 2.25e-13.
    (re.compile(r"(?<![\w.])(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}"
                r"(?![\w.]|[-+]\d)"), "<hex>"),
)
# Any remaining token with a digit: a number (<n>) or an id (<id>).
_TOKEN = re.compile(r"(?<![\w<])[-+]?[\w.-]*\d[\w.-]*")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SPACES = re.compile(r"\s+")


def _token(match: re.Match[str]) -> str:
    text = match.group()
    core = text.rstrip(".-")
    tail = text[len(core):]
    if _NUMBER.fullmatch(core):
        return "<n>" + tail
    return "<id>" + tail


def normalize_message(message: str) -> str:
    """Return the message with its variable parts replaced by placeholders.

    >>> normalize_message("order A-17 failed at 2024-05-01T10:00:00Z after 3 tries")
    'order <id> failed at <ts> after <n> tries'
    """
    text = message
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    text = _TOKEN.sub(_token, text)
    return _SPACES.sub(" ", text).strip()[:MAX_MESSAGE]


def top_user_frames(frames: Sequence[FrameInfo], n: int = TOP_FRAMES) -> list[str]:
    """Return ``basename:function`` of the innermost ``n`` user frames, innermost first."""
    out: list[str] = []
    for frame in reversed(frames):
        if frame.is_user_code:
            base = re.split(r"[\\/]", frame.file)[-1]
            out.append(f"{base}:{frame.function}")
            if len(out) == n:
                break
    return out


def compute_fingerprint(
    error_type: str,
    workflow: str | None,
    step_id: str | None,
    message: str,
    frames: Iterable[str] = (),
) -> str:
    """Return the fingerprint of a failure from its parts (``frames`` as from
    :func:`top_user_frames`)."""
    parts = [error_type, workflow or "", step_id or "", normalize_message(message), *frames]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


def fingerprint_error(error: ErrorInfo, workflow: str | None, step_id: str | None) -> str:
    """Return the fingerprint of a stored failure."""
    return compute_fingerprint(
        error.type, workflow, step_id, error.message, top_user_frames(error.frames)
    )


def is_cascade_type(error_type: str) -> bool:
    """Whether a stored error type is a sub-workflow step repeating its child's failure."""
    return error_type.rsplit(".", 1)[-1] == CHILD_FAILED


def failure_of(
    attempt: StepAttemptRecord, *, workflow: str, version: str,
    definition_hash: str | None = None, user: str | None = None,
    workflow_type: str | None = None,
) -> Failure:
    """Describe a failed attempt of a run of ``workflow`` as a :class:`Failure`.

    An attempt recorded as failed without an error counts as an ``UnknownError`` with an
    empty message, so every failed attempt has a fingerprint.
    """
    error = attempt.error or ErrorInfo(type="UnknownError", message="")
    return Failure(
        run_id=attempt.run_id, step_id=attempt.step_id, attempt=attempt.attempt,
        workflow=workflow, version=version, definition_hash=definition_hash, user=user,
        workflow_type=workflow_type, error_type=error.type, category=error.category,
        fingerprint=fingerprint_error(error, workflow, attempt.step_id),
        normalized=normalize_message(error.message), is_cascade=is_cascade_type(error.type),
        ended_at=attempt.ended_at,
    )
