"""Fingerprints: one stable hash per bug (computed in :mod:`flowscope.engine.fingerprint`).

The store fingerprints each failure when it is recorded, so the rule lives in the engine
room; these names are re-exported here, where diagnosis users have always found them.
"""

from __future__ import annotations

from flowscope.engine.fingerprint import (
    CHILD_FAILED,
    FINGERPRINT_LENGTH,
    MAX_MESSAGE,
    TOP_FRAMES,
    compute_fingerprint,
    fingerprint_error,
    is_cascade_type,
    normalize_message,
    top_user_frames,
)

__all__ = [
    "CHILD_FAILED",
    "FINGERPRINT_LENGTH",
    "MAX_MESSAGE",
    "TOP_FRAMES",
    "compute_fingerprint",
    "fingerprint_error",
    "is_cascade_type",
    "normalize_message",
    "top_user_frames",
]
