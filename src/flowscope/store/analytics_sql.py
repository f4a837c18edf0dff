"""What analytics reads and writes, on SQLite and PostgreSQL (``SQLStore.analytics_source``).

Implements the ``AnalyticsSource`` contract of :mod:`flowscope.analytics.source` with
SQLAlchemy Core on the journal's own tables (``runs``, ``step_attempts``) and the sample
tables of :mod:`.schema`. Every figure is computed in SQL; the percentile strategies are
in :mod:`.analytics_sql_stats`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowscope.store.analytics_query import (
    EXECUTED,
    FILTER_COLUMNS,
    Bucket,
    GroupStats,
    RunState,
    Scope,
    check_measures,
)
from flowscope.store.analytics_sql_stats import Extras, grouped_stats
from flowscope.store.schema import concurrency_samples, resource_samples, runs, step_attempts

#: Rows fetched per round trip when a result is streamed (a server-side cursor on
#: PostgreSQL, ``fetchmany`` on SQLite), so a million rows never sit in memory together.
_BATCH = 1000


def where(table: sa.Table, scope: Scope) -> list[sa.ColumnElement[bool]]:
    """Return the WHERE clauses that select ``scope``'s rows of ``table``."""
    c = table.c
    f = scope.filters
    out: list[sa.ColumnElement[bool]] = []
    if f.since is not None:
        out.append(c[scope.time] >= f.since)
    if f.until is not None:
        out.append(c[scope.time] < f.until)
    for name, column in FILTER_COLUMNS:
        wanted = getattr(f, name)
        if wanted is not None:
            out.append(c[column] == wanted)
    if scope.statuses is not None:
        out.append(c.status.in_(scope.statuses))
    if scope.table == "steps":
        if scope.executed:
            out += [c.status.in_(EXECUTED), c.reused_from_run_id.is_(None)]
        if scope.step_id is not None:
            out.append(c.step_id == scope.step_id)
    elif scope.finished:
        out.append(c.ended_at_epoch.is_not(None))
    if scope.begun:
        out.append(c.started_at_epoch.is_not(None))
    return out


def _table(scope: Scope) -> sa.Table:
    return runs if scope.table == "runs" else step_attempts


def _bucket_sql(dialect: str, epoch: Any, size: float, origin: float) -> Any:
    scaled = (epoch - origin) / float(size)
    if dialect == "postgresql":
        index = sa.cast(sa.func.floor(scaled), sa.BigInteger())
    else:  # CAST truncates toward zero, which is floor for times after the origin
        index = sa.cast(scaled, sa.Integer())
    return index * size + origin


def _count_status(status: str) -> Any:
    return lambda c: sa.func.sum(sa.case((c.status == status, 1), else_=0))


def _measure(name: str) -> tuple[Any, tuple[str, ...]]:
    """Return the builder of a measure and the columns it reads."""
    if name == "rows":
        return (lambda c: sa.func.count()), ()
    if name == "retries":
        return (lambda c: sa.func.sum(sa.case((c.attempt > 1, 1), else_=0))), ("attempt",)
    op, _, arg = name.partition(":")
    if op == "status":
        return _count_status(arg), ("status",)
    func = sa.func.avg if op == "avg" else sa.func.max
    return (lambda c: func(c[arg])), (arg,)


class SQLAnalyticsSource:
    """The analytics contract on a SQL engine (the journal's database).

    Args:
        engine: The SQLAlchemy engine of a :class:`~flowscope.store.sql.SQLStore`.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    # -- reads ---------------------------------------------------------------------------

    def group_stats(
        self, scope: Scope, *, groups: Sequence[str] = (), bucket: Bucket | None = None,
        value: str | None = "duration_ms", fractions: Sequence[float] = (0.5, 0.95, 0.99),
        measures: Sequence[str] = (),
        centers: Mapping[tuple[Any, ...], float] | None = None,
    ) -> list[GroupStats]:
        """Return count, mean, min, max, exact percentiles and measures per group.

        Args:
            scope: The rows.
            groups: Columns to group by (``workflow``, ``step_id``, ``user_id``,
                ``workflow_type``); the bucket start comes last in each key.
            bucket: Also group by time bucket.
            value: The numeric column (``None``: only the measures; ``count`` is rows).
            fractions: Percentiles as fractions in [0, 1].
            measures: Names from :data:`~.analytics_query.MEASURES`.
            centers: Measure ``|value - centers[key]|`` instead of ``value``; groups
                without a center have no values.
        """
        names = check_measures(measures)
        table = _table(scope)
        c = table.c
        conds = where(table, scope)
        extras: dict[str, Any] = {}
        needed: dict[str, None] = {}
        for name in names:
            if name != "retried_runs":
                extras[name], reads = _measure(name)
                needed.update(dict.fromkeys(reads))
        keys = list(groups) + (["b_"] if bucket is not None else [])
        with self._engine.connect() as conn:
            if value is None:
                stats = self._counts(conn, table, conds, groups, bucket, extras)
            elif bucket is not None or centers is not None or (scope.table == "runs"
                                                                and names):
                # Runs have no index in duration order, and buckets or deviations are
                # computed values: one pass over just the needed columns feeds either
                # dialect's path for derived sources.
                cols: list[Any] = [c[g] for g in groups]
                if bucket is not None:
                    epoch = c[f"{bucket.column}_epoch"]
                    cols.append(_bucket_sql(self._dialect, epoch, bucket.size,
                                            bucket.origin).label("b_"))
                v = c[value]
                if centers is not None:
                    median_of = sa.case(*[(_match([c[g] for g in groups], k), m)
                                          for k, m in centers.items()], else_=None)
                    cols.append(sa.func.abs(v - median_of).label("v_"))
                    conds.append(v.is_not(None))
                else:
                    cols.append(v.label("v_"))
                cols += [c[n] for n in needed if n not in groups]
                source = sa.select(*cols).where(*conds).subquery("source")
                stats = grouped_stats(conn, source, value="v_", groups=keys,
                                      fractions=fractions, extras=extras)
            else:
                stats = grouped_stats(conn, table, value=value, where=conds, groups=groups,
                                      fractions=fractions, extras=extras)
            if "retried_runs" in names:
                retried = self._retried_runs(conn, conds, groups)
                stats = [GroupStats(g.key, g.count, g.mean, g.minimum, g.maximum,
                                    g.percentiles,
                                    {**g.extras, "retried_runs": retried.get(g.key, 0)})
                         for g in stats]
        return stats

    def _counts(
        self, conn: sa.Connection, table: sa.Table, conds: list[Any], groups: Sequence[str],
        bucket: Bucket | None, extras: Extras,
    ) -> list[GroupStats]:
        cols: list[Any] = [table.c[g] for g in groups]
        if bucket is not None:
            cols.append(_bucket_sql(self._dialect, table.c[f"{bucket.column}_epoch"],
                                    bucket.size, bucket.origin))
        aggregates = [build(table.c) for build in extras.values()]
        stmt = sa.select(*cols, sa.func.count(), *aggregates).where(*conds)
        if cols:
            stmt = stmt.group_by(*cols)
        width = len(cols)
        return [GroupStats(tuple(row[:width]), int(row[width]), None, None, None, (),
                           dict(zip(extras, row[width + 1:], strict=True)))
                for row in conn.execute(stmt)]

    def _retried_runs(self, conn: sa.Connection, conds: list[Any],
                      groups: Sequence[str]) -> dict[tuple[Any, ...], int]:
        # Runs that retried a step, from the partial index ``ix_step_attempts_retried``
        # (its condition repeated literally so SQLite picks it): a small list, not a
        # probe of every attempt of every completed run.
        r = runs.c
        retried_runs = sa.select(step_attempts.c.run_id).where(
            step_attempts.c.attempt > sa.literal_column("1"))
        stmt = (sa.select(*[r[g] for g in groups], sa.func.count().label("n"))
                .where(*conds, r.status == "completed", r.id.in_(retried_runs)))
        if groups:
            stmt = stmt.group_by(*[r[g] for g in groups])
        return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(stmt)}

    def extent(self, scope: Scope, first: str, last: str | None = None, *,
               count: bool = False) -> tuple[int | None, float | None, float | None]:
        """Return the rows' count (only when asked: it costs a pass where min and max
        alone are one index probe each), the earliest epoch of the ``first`` time column
        and the latest of the ``last`` one (default: ``first``).

        A column is ``created_at``, ``started_at``, ``ended_at`` or ``begun_at`` (the
        start, else the creation).
        """
        table = _table(scope)
        c = table.c

        def column(name: str) -> Any:
            if name == "begun_at":
                return sa.func.coalesce(c.started_at_epoch, c.created_at_epoch)
            return c[f"{name}_epoch"]

        bounds = [sa.func.min(column(first)), sa.func.max(column(last or first))]
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(*([sa.func.count()] if count else []), *bounds)
                               .where(*where(table, scope))).one()
        n = int(row[0]) if count else None
        return n, _float(row[-2]), _float(row[-1])

    def intervals(self, scope: Scope, lo: float, hi: float
                  ) -> Iterator[tuple[float, float | None]]:
        """Yield ``(start, end)`` epochs of the rows in flight during ``[lo, hi)``
        (``end`` ``None`` while running), streamed."""
        table = _table(scope)
        begin, end = table.c.started_at_epoch, table.c.ended_at_epoch
        stmt = sa.select(begin, end).where(*where(table, scope), begin < hi,
                                           sa.or_(end.is_(None), end >= lo))
        with self._engine.connect() as conn:
            for b, e in conn.execution_options(yield_per=10_000).execute(stmt):
                yield float(b), _float(e)

    def records(self, scope: Scope, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Yield the rows' columns as dicts, streamed: runs by ``created_at`` then id, step
        attempts in the order recorded."""
        table = _table(scope)
        order = ([runs.c.created_at, runs.c.id] if scope.table == "runs"
                 else [step_attempts.c.id])
        stmt = (sa.select(*[table.c[name] for name in columns])
                .where(*where(table, scope)).order_by(*order))
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=_BATCH).execute(stmt):
                yield dict(row._mapping)

    def run_state(self, run_id: str) -> RunState | None:
        """Return a run's workflow, status and start (exact id), or ``None``."""
        r = runs.c
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(r.workflow, r.status, r.started_at)
                               .where(r.id == run_id)).first()
        return None if row is None else RunState(row.workflow, row.status, row.started_at)

    def resource_summary(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Return the reported samples of one run: max, mean and count of each kind."""
        c = resource_samples.c
        out: dict[str, dict[str, Any]] = {}
        with self._engine.connect() as conn:
            for kind, peak, mean, n in conn.execute(
                sa.select(c.kind, sa.func.max(c.value), sa.func.avg(c.value),
                          sa.func.count()).where(c.run_id == run_id).group_by(c.kind)
            ):
                out[kind] = {"max": float(peak), "mean": float(mean), "samples": int(n)}
        return out

    def reported_concurrency(self, size: float, origin: float, lo: float,
                             hi: float) -> dict[float, int]:
        """Return the largest reported count per bucket start, for samples in ``[lo, hi)``."""
        c = concurrency_samples.c
        b = _bucket_sql(self._dialect, c.ts_epoch, size, origin)
        with self._engine.connect() as conn:
            return {float(row[0]): int(row[1]) for row in conn.execute(
                sa.select(b, sa.func.max(c.count))
                .where(c.ts_epoch >= lo, c.ts_epoch < hi).group_by(b))}

    # -- writes --------------------------------------------------------------------------

    def add_resource_sample(self, workflow: str, run_id: str, step_id: str | None, kind: str,
                            value: float, at: datetime) -> None:
        """Store one reported resource sample."""
        with self._engine.begin() as conn:
            conn.execute(resource_samples.insert().values(
                workflow=workflow, run_id=run_id, step_id=step_id, kind=kind, value=value,
                ts=at, ts_epoch=at.timestamp()))

    def add_concurrency_sample(self, count: int, at: datetime) -> None:
        """Store one reported count of executions in flight."""
        with self._engine.begin() as conn:
            conn.execute(concurrency_samples.insert().values(count=count, ts=at,
                                                             ts_epoch=at.timestamp()))


def _match(cols: Sequence[Any], key: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    return sa.and_(*[c == k for c, k in zip(cols, key, strict=True)])


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
