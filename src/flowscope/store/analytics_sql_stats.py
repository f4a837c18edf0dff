"""Exact percentiles in SQL, the same numbers on SQLite and PostgreSQL.

The definition is that of :mod:`.analytics_query` (numpy's default and PostgreSQL's
``percentile_cont``).

- PostgreSQL: ``percentile_cont(p) WITHIN GROUP (ORDER BY v)``, one sort shared by all
  the percentiles of a group.
- SQLite (no ordered-set aggregates), on a table: one ``GROUP BY`` gives each group's
  count; then the two values at ranks ``lo`` and ``hi`` are read with
  ``ORDER BY v LIMIT 1 OFFSET k`` sub-selects, which walk an index on
  ``(group columns, v)`` without sorting (see migration ``0003_analytics``).
- SQLite, on a derived source (time buckets, filtered runs): one ``GROUP BY`` gives each
  group's count and aggregates; then one ``ORDER BY group, v`` is read as a stream and
  only the values at ranks ``lo`` and ``hi`` are kept (SQLite's window functions cost
  several times the sort they need).

Either way the interpolation is done with the formula PostgreSQL uses (in double
precision), so both dialects give the same result for the same data. NULL values are
left out of every statistic (as SQL aggregates do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from flowscope.store.analytics_query import GroupStats, lerp, ranks

#: Builds extra aggregates over the value source.
Extras = Mapping[str, Callable[[sa.ColumnCollection[str, Any]], sa.ColumnElement[Any]]]


def grouped_stats(
    conn: sa.Connection,
    source: sa.FromClause,
    *,
    value: str = "v",
    where: Sequence[sa.ColumnElement[bool]] = (),
    groups: Sequence[str] = (),
    fractions: Sequence[float] = (0.5, 0.95, 0.99),
    extras: Extras | None = None,
) -> list[GroupStats]:
    """Return count, mean, min, max and exact percentiles of one column per group.

    Args:
        conn: An open connection.
        source: A table, or a subquery with the value and group columns.
        value: The name of the numeric column.
        where: Conditions on ``source``'s columns.
        groups: Names of the group columns (none: one row for everything, even if empty).
        fractions: Percentiles as fractions in [0, 1].
        extras: More aggregates (name -> builder taking ``source``'s columns).

    Returns:
        One entry per group, sorted by the group key.
    """
    extras = extras or {}
    cols = source.c
    v = cols[value]
    keys = [cols[g] for g in groups]
    select_list: list[Any] = [*keys]
    postgres = conn.dialect.name == "postgresql"
    select_list += [sa.func.count(v).label("n_"), sa.func.avg(v).label("mean_")]
    if postgres:
        select_list += [sa.func.min(v).label("min_"), sa.func.max(v).label("max_")]
    select_list += [build(cols).label(f"x_{name}") for name, build in extras.items()]
    if postgres:
        select_list += [
            sa.func.percentile_cont(p).within_group(v).label(f"p{i}")
            for i, p in enumerate(fractions)
        ]
    elif not isinstance(source, sa.Table):
        return _sqlite_window_stats(conn, source, value, where, groups, fractions, extras)
    stmt = sa.select(*select_list).select_from(source).where(*where)
    if groups:
        stmt = stmt.group_by(*keys).order_by(*keys)
    out = []
    for row in conn.execute(stmt):
        m = row._mapping
        out.append(GroupStats(
            key=tuple(m[g] for g in groups), count=int(m["n_"]), mean=_float(m["mean_"]),
            minimum=_float(m.get("min_")), maximum=_float(m.get("max_")),
            percentiles=tuple(_float(m[f"p{i}"]) for i in range(len(fractions)))
            if postgres else (),
            extras={name: m[f"x_{name}"] for name in extras},
        ))
    if postgres:
        return out
    # On SQLite min and max are the values at ranks 0 and n - 1: one index entry each,
    # cheaper than two more aggregates in the GROUP BY pass over every entry.
    ranked = _sqlite_offset_percentiles(conn, source, v, where, keys,
                                        (*fractions, 0.0, 1.0), out)
    return [GroupStats(g.key, g.count, g.mean, g.percentiles[-2], g.percentiles[-1],
                       g.percentiles[:-2], g.extras) for g in ranked]


#: Groups per statement in the SQLite rank look-up (6 sub-selects each, well under
#: SQLite's limits of 2,000 result columns and 32,766 parameters).
_CHUNK = 100


def _sqlite_offset_percentiles(
    conn: sa.Connection, table: sa.FromClause, v: sa.ColumnElement[Any],
    where: Sequence[sa.ColumnElement[bool]], keys: Sequence[sa.ColumnElement[Any]],
    fractions: Sequence[float], stats: list[GroupStats],
) -> list[GroupStats]:
    # With the counts known, the value at rank k of a group is
    # ``... ORDER BY v LIMIT 1 OFFSET k``: on a table indexed by (group columns, v) each
    # look-up walks the index only, so no sort and no window over all the rows is needed.
    out: list[GroupStats] = []
    for start in range(0, len(stats), _CHUNK):
        chunk = stats[start:start + _CHUNK]
        subs: list[Any] = []
        plan: list[list[tuple[int, int, float]]] = []
        for g in chunk:
            wanted: list[tuple[int, int, float]] = []
            for p in fractions:
                lo, hi, h = ranks(g.count, p) if g.count else (0, 0, 0.0)
                wanted.append((len(subs), len(subs) + (hi != lo), h))
                for k in dict.fromkeys((lo, hi)):
                    # Walk from the nearer end: p99 reads 1% of the group, not 99%.
                    from_top = k > (g.count - 1) // 2
                    subs.append(
                        sa.select(v)
                        .where(*where, v.is_not(None),
                               *[col == key for col, key in zip(keys, g.key, strict=True)])
                        .order_by(v.desc() if from_top else v)
                        .limit(1).offset(g.count - 1 - k if from_top else k)
                        .scalar_subquery().label(f"r{len(subs)}")
                    )
            plan.append(wanted)
        row = conn.execute(sa.select(*subs)).one() if subs else ()
        for g, wanted in zip(chunk, plan, strict=True):
            pct = tuple(
                lerp(row[a], row[b], h) if g.count else None for a, b, h in wanted
            )
            out.append(GroupStats(g.key, g.count, g.mean, g.minimum, g.maximum, pct,
                                  g.extras))
    return out


def _sqlite_window_stats(
    conn: sa.Connection, source: sa.FromClause, value: str,
    where: Sequence[sa.ColumnElement[bool]], groups: Sequence[str],
    fractions: Sequence[float], extras: Extras,
) -> list[GroupStats]:
    # For derived groups (time buckets, filtered runs) there is no index in value order.
    # Window functions (row_number and count over each group) cost SQLite far more than
    # the sort itself, so: one GROUP BY for the aggregates, then one ORDER BY (group,
    # value) read as a stream, keeping only the values at the wanted ranks.
    cols = source.c
    v = cols[value]
    keys = [cols[g] for g in groups]
    select_list: list[Any] = [*keys]
    select_list += [
        sa.func.count(v).label("n_"), sa.func.avg(v).label("mean_"),
        sa.func.min(v).label("min_"), sa.func.max(v).label("max_"),
    ]
    select_list += [build(cols).label(f"x_{name}") for name, build in extras.items()]
    stmt = sa.select(*select_list).select_from(source).where(*where)
    if groups:
        stmt = stmt.group_by(*keys).order_by(*keys)
    rows = [row._mapping for row in conn.execute(stmt)]
    wanted: dict[tuple[Any, ...], dict[int, float | None]] = {}
    for m in rows:
        n = int(m["n_"])
        if n:
            at: dict[int, float | None] = {}
            for p in fractions:
                lo, hi, _ = ranks(n, p)
                at[lo] = None
                at[hi] = None
            wanted[tuple(m[g] for g in groups)] = at
    if wanted and fractions:
        ordered = (sa.select(*keys, v).select_from(source).where(*where, v.is_not(None))
                   .order_by(*keys, v))
        width = len(keys)
        current: tuple[Any, ...] | None = None
        at, rank = {}, 0
        for row in conn.execute(ordered):
            key = tuple(row[:width])
            if key != current:
                current, rank = key, 0
                at = wanted.get(key, {})
            if rank in at:
                at[rank] = row[width]
            rank += 1
    out = []
    for m in rows:
        n = int(m["n_"])
        key = tuple(m[g] for g in groups)
        picked = wanted.get(key, {})
        pct = tuple(_pick(picked, n, p) if n else None for p in fractions)
        out.append(GroupStats(
            key=key, count=n, mean=_float(m["mean_"]), minimum=_float(m["min_"]),
            maximum=_float(m["max_"]), percentiles=pct,
            extras={name: m[f"x_{name}"] for name in extras},
        ))
    return out


def _pick(values: Mapping[int, float | None], n: int, p: float) -> float | None:
    lo, hi, h = ranks(n, p)
    return lerp(values.get(lo), values.get(hi), h)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
