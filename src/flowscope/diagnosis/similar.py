"""Similar past errors, their resolution, and failure counts over time.

*Exact* matches share the fingerprint. *Near* matches have the same category and a
normalised message whose similarity (``difflib.SequenceMatcher.ratio``, 0 to 1) is at
least the threshold (:data:`~flowscope.diagnosis.config.DEFAULT_SIMILARITY`, 0.8, unless
the configuration says otherwise): the same bug seen from another step or with a slightly
reworded message.

A group of failures is *resolved* when the same step of the same workflow later completed
(after the group's last failure); the answer says whether the version and the definition
hash changed in between, which hints at what fixed it.
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.diagnosis.config import DEFAULT_SIMILARITY
from flowscope.diagnosis.failures import (
    Failure,
    FailureFilter,
    FailureSource,
    make_filter,
    parse_duration,
)

#: Run ids listed per group (the count says how many there are in all).
MAX_RUNS_LISTED = 20
#: How far back near matches are looked for, and how many candidates at most.
NEAR_WINDOW = timedelta(days=90)
NEAR_CANDIDATES = 5000


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def similarity(a: str, b: str) -> float:
    """Return the similarity of two normalised messages in [0, 1]."""
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def summarise(
    source: FailureSource, failures: list[Failure], *, match: str = "exact",
    score: float = 1.0, resolve: bool = True,
) -> dict[str, Any]:
    """Describe a group of failures (newest first) sharing a fingerprint."""
    newest, oldest = failures[0], failures[-1]
    runs: list[str] = []
    for f in failures:
        if f.run_id not in runs:
            runs.append(f.run_id)
    out: dict[str, Any] = {
        "fingerprint": newest.fingerprint, "match": match, "similarity": round(score, 3),
        "error_type": newest.error_type, "category": newest.category,
        "message": newest.normalized, "workflow": newest.workflow, "step_id": newest.step_id,
        "count": len(failures), "first_seen": _iso(oldest.ended_at),
        "last_seen": _iso(newest.ended_at), "runs": runs[:MAX_RUNS_LISTED],
        "run_count": len(runs), "versions": sorted({f.version for f in failures}),
        "resolved": None, "resolved_by": None, "version_changed": None,
        "definition_changed": None,
    }
    if resolve:
        out.update(resolution(source, newest))
    return out


def resolution(source: FailureSource, last: Failure) -> dict[str, Any]:
    """Whether a later attempt of the failure's step completed, and what changed by then."""
    success = source.first_success_after(last.workflow, last.step_id, last.ended_at)
    if success is None:
        return {"resolved": False, "resolved_by": None, "version_changed": None,
                "definition_changed": None}
    return {
        "resolved": True,
        "resolved_by": {"run_id": success.run_id, "version": success.version,
                        "definition_hash": success.definition_hash,
                        "ended_at": _iso(success.ended_at)},
        "version_changed": success.version != last.version,
        "definition_changed": (
            None if success.definition_hash is None or last.definition_hash is None
            else success.definition_hash != last.definition_hash
        ),
    }


def _groups(failures: Iterable[Failure]) -> dict[str, list[Failure]]:
    groups: dict[str, list[Failure]] = defaultdict(list)
    for f in failures:  # newest first in, newest first out
        groups[f.fingerprint].append(f)
    return groups


def find_similar(
    source: FailureSource,
    fingerprint: str,
    *,
    normalized: str | None = None,
    category: str | None = None,
    exclude_runs: Collection[str] = (),
    threshold: float = DEFAULT_SIMILARITY,
    limit: int = 10,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Return the exact group (if any) then near groups, best first, at most ``limit``.

    Args:
        source: Where past failures are read.
        fingerprint: The failure's fingerprint.
        normalized: Its normalised message (taken from a past exact match if omitted).
        category: Its category (likewise).
        exclude_runs: Runs not to count (the run being diagnosed).
        threshold: Minimum similarity for a near match.
        limit: Most groups returned.
        now: The present, for the near-match window.
    """
    exact = [f for f in source.failures(FailureFilter(fingerprint=fingerprint,
                                                      include_cascade=True))
             if f.run_id not in exclude_runs]
    out: list[dict[str, Any]] = []
    if exact:
        out.append(summarise(source, exact))
        normalized = normalized if normalized is not None else exact[0].normalized
        category = category if category is not None else exact[0].category
    if normalized is None or category is None or limit <= len(out):
        return out[:limit]
    since = (now or datetime.now(UTC)) - NEAR_WINDOW
    candidates = source.failures(FailureFilter(category=category, since=since),
                                 limit=NEAR_CANDIDATES)
    scored = []
    for fp, group in _groups(f for f in candidates if f.run_id not in exclude_runs).items():
        if fp == fingerprint:
            continue
        score = similarity(normalized, group[0].normalized)
        if score >= threshold:
            scored.append((score, len(group), group))
    scored.sort(key=lambda item: (-item[0], -item[1]))
    for score, _, group in scored[: max(0, limit - len(out))]:
        out.append(summarise(source, group, match="near", score=score))
    return out


def error_groups(
    source: FailureSource, filters: Mapping[str, Any], *, limit: int | None = 50,
    resolve: bool = True,
) -> list[dict[str, Any]]:
    """Return failures grouped by fingerprint, most frequent first."""
    groups = _groups(source.failures(make_filter(filters)))
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0].fingerprint))
    if limit is not None:
        ordered = ordered[:limit]
    return [summarise(source, g, resolve=resolve) for g in ordered]


def categories(source: FailureSource, filters: Mapping[str, Any]) -> dict[str, int]:
    """Return the number of failures per category, most frequent first."""
    counts = Counter(f.category for f in source.failures(make_filter(filters)))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def frequency(
    source: FailureSource, fingerprint: str | None, bucket: str, filters: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Count failures per time bucket (by end time), split by category and fingerprint.

    Returns:
        One dict per bucket that had failures, oldest first: ``bucket`` (ISO start),
        ``count``, ``by_category`` and ``by_fingerprint``.
    """
    size = parse_duration(bucket, what="bucket").total_seconds()
    merged = dict(filters)
    if fingerprint is not None:
        merged["fingerprint"] = fingerprint
    buckets: dict[float, list[Failure]] = defaultdict(list)
    for f in source.failures(make_filter(merged)):
        if f.ended_at is not None:
            start = (f.ended_at.timestamp() // size) * size
            buckets[start].append(f)
    return [
        {
            "bucket": datetime.fromtimestamp(start, UTC).isoformat(),
            "count": len(group),
            "by_category": dict(Counter(f.category for f in group).most_common()),
            "by_fingerprint": dict(Counter(f.fingerprint for f in group).most_common()),
        }
        for start, group in sorted(buckets.items())
    ]
