"""Exact percentiles: the definition, and the checks of a requested percentile.

The definition is numpy's default (``method="linear"``) and PostgreSQL's
``percentile_cont``: for ``n`` sorted values ``x[0..n-1]`` and a fraction ``p``, let
``h = p * (n - 1)``, ``lo = floor(h)``, ``hi = ceil(h)``; the percentile is
``x[lo] + (x[hi] - x[lo]) * (h - lo)``.

The store computes them where the data is (:mod:`flowscope.store.analytics_sql_stats`:
``percentile_cont`` on PostgreSQL, a rank walk over the covering index on SQLite; in
Python on the memory store), always interpolating with the formula PostgreSQL uses, so
every store gives the same result for the same data. Values already in memory go
through :func:`exact_percentiles`, the same formula. NULL values are left out of every
statistic (as SQL aggregates do).
"""

from __future__ import annotations

from flowscope.errors import AnalyticsError
from flowscope.store.analytics_query import GroupStats, exact_percentiles, lerp

__all__ = ["GroupStats", "PercentileError", "check_fraction", "exact_percentiles", "lerp"]


class PercentileError(AnalyticsError, ValueError):
    """A percentile is outside its range (both an ``AnalyticsError`` and a ``ValueError``)."""


def check_fraction(p: float, *, scale: float = 1.0) -> float:
    """Return ``p / scale`` as a fraction in [0, 1].

    Raises:
        ValueError: ``p`` is outside ``[0, scale]`` or not a number (an
            :class:`AnalyticsError` is a ``FlowscopeError``; this is also a ``ValueError``
            so that callers of the seed API can catch either).
    """
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise PercentileError(f"percentile {p!r} is not a number",
                              hint=f"pass a number in [0, {scale:g}]") from None
    if not 0.0 <= value <= scale:  # also refuses NaN
        raise PercentileError(f"percentile {p!r} is outside [0, {scale:g}]",
                              hint=f"pass a number in [0, {scale:g}], e.g. {scale * 0.95:g}")
    return value / scale
