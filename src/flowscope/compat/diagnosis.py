"""The diagnosis methods of ``flowscope.WorkflowDebugger`` (seed-compatible names).

:class:`DiagnosisMixin` holds them; :class:`flowscope.compat.WorkflowDebugger` adds them
to the debugger's facade, which provides ``self._engine`` (an ``Engine`` or ``None``) and
``self._store`` (a journal or ``None``). :class:`Diagnoser` is the same mixin standing
alone (the CLI uses it). Without a store everything that needs no history still works
on a bare exception: classification, fingerprint, stack trace, general suggestions.

This is where diagnosis meets analytics: the step durations that suggestions quote come
from the analytics per-step statistics (:class:`AnalyticsDurations`), so ``flowscope
why`` and ``flowscope stats`` give the same p95 and p99 for the same step and window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.analytics import queries
from flowscope.diagnosis.config import DEFAULT_SIMILARITY
from flowscope.diagnosis.context import error_context, facts_for, stack_frames
from flowscope.diagnosis.durations import StepDurations
from flowscope.diagnosis.failures import FailureSource, source_for
from flowscope.diagnosis.fingerprint import fingerprint_error, normalize_message
from flowscope.diagnosis.report import render_report
from flowscope.diagnosis.result import Diagnosis
from flowscope.diagnosis.rootcause import Analysis, analyse_run
from flowscope.diagnosis.similar import categories, find_similar, frequency
from flowscope.diagnosis.suggest import FailureFacts, Suggestion, suggest
from flowscope.engine.classify import DEFAULT_CLASSIFIER
from flowscope.engine.failure import error_info
from flowscope.engine.journal import Journal
from flowscope.engine.records import ErrorInfo
from flowscope.errors import DiagnosisError
from flowscope.filters import Filters

__all__ = ["AnalyticsDurations", "Diagnoser", "DiagnosisMixin"]


class AnalyticsDurations:
    """A :class:`~flowscope.diagnosis.durations.DurationSource` over the analytics
    per-step statistics of one store (the figures ``flowscope stats --by step`` shows).

    Args:
        store: The journal the runs are in.
    """

    def __init__(self, store: Journal) -> None:
        self.store = store

    def step_durations(self, workflow: str, step_id: str, since: datetime) -> StepDurations:
        """Return the step's executions, p95 and p99 for attempts started since ``since``."""
        row = queries.step_durations(self.store, Filters(since=since, workflow=workflow),
                                     step_id)
        return StepDurations(executions=row["executions"], p95_ms=row["p95_duration_ms"],
                             p99_ms=row["p99_duration_ms"])


class DiagnosisMixin:
    """Diagnosis methods over ``self._engine`` and ``self._store``."""

    _engine: Any
    _store: Any

    # -- plumbing ----------------------------------------------------------------------

    def _diagnosis_store(self) -> Journal | None:
        store = getattr(self, "_store", None)
        engine = getattr(self, "_engine", None)
        if store is None and engine is not None:
            store = getattr(engine, "store", None)
        return store

    def _require_store(self, what: str) -> Journal:
        store = self._diagnosis_store()
        if store is None:
            raise DiagnosisError(f"{what} needs a store to read runs from",
                                 hint="create it with a store or an engine on a store")
        return store

    def _durations(self) -> AnalyticsDurations | None:
        store = self._diagnosis_store()
        return None if store is None else AnalyticsDurations(store)

    def _failure_source(self) -> FailureSource | None:
        store = self._diagnosis_store()
        return None if store is None else source_for(store)

    def _classifier(self) -> Callable[[BaseException], str]:
        engine = getattr(self, "_engine", None)
        classify = getattr(engine, "classify", None)
        return classify if callable(classify) else DEFAULT_CLASSIFIER

    def _similarity_threshold(self) -> float:
        config = getattr(self, "_diagnosis_config", None)
        return float(getattr(config, "similarity_threshold", DEFAULT_SIMILARITY))

    def _error_of(self, error: BaseException | ErrorInfo) -> ErrorInfo:
        if isinstance(error, ErrorInfo):
            return error
        return error_info(error, self._classifier())

    def _analysis(self, run_id: str) -> Analysis:
        analysis = analyse_run(self._require_store("diagnosing a run"), run_id)
        if analysis.root_cause is None:
            raise DiagnosisError(
                f"run {analysis.run.id} has no failure to diagnose "
                f"(status {analysis.run.status.value})",
                hint="pass the id of a failed run; list them with `flowscope runs --status "
                     "failed`",
            )
        return analysis

    # -- the public methods ------------------------------------------------------------

    def diagnose_error(
        self, error_or_run_id: BaseException | ErrorInfo | str,
        context: Mapping[str, Any] | None = None,
    ) -> Diagnosis:
        """Diagnose an exception (with optional context) or a failed run by id.

        Args:
            error_or_run_id: An exception, a stored ``ErrorInfo``, or a run id.
            context: For an exception: ``workflow``, ``step_id``, ``input`` (the step's
                input), ``inputs`` (the workflow's), ``step_def`` (timeout, retry).

        Raises:
            DiagnosisError: Not an exception or run id, or the run did not fail.
        """
        if isinstance(error_or_run_id, str):
            return self._diagnose_run(error_or_run_id)
        if not isinstance(error_or_run_id, BaseException | ErrorInfo):
            raise DiagnosisError(
                f"cannot diagnose a {type(error_or_run_id).__name__}",
                hint="pass an exception or the id of a failed run",
            )
        ctx = dict(context or {})
        error = self._error_of(error_or_run_id)
        workflow = ctx.get("workflow")
        step_id = ctx.get("step_id", ctx.get("step"))
        fp = fingerprint_error(error, workflow, step_id)
        facts = FailureFacts(error=error, step_id=step_id, step_def=ctx.get("step_def"),
                             step_input=ctx.get("input"), inputs=ctx.get("inputs"))
        source = self._failure_source()
        similar = [] if source is None else find_similar(
            source, fp, normalized=normalize_message(error.message), category=error.category,
            threshold=self._similarity_threshold(),
        )
        return Diagnosis(category=error.category, fingerprint=fp, message=error.message,
                         error_type=error.type, suggestions=suggest(facts), similar=similar,
                         error=error)

    def _diagnose_run(self, run_id: str) -> Diagnosis:
        analysis = self._analysis(run_id)
        root = analysis.root_cause
        assert root is not None  # _analysis refuses runs without one
        error = root.error or ErrorInfo(type="UnknownError", message="")
        fp = fingerprint_error(error, root.run.workflow, root.step_id)
        source = self._failure_source()
        tree = {analysis.run.id, root.run.id} | {c["run_id"] for c in analysis.cascade}
        similar = [] if source is None else find_similar(
            source, fp, normalized=normalize_message(error.message), category=error.category,
            exclude_runs=tree, threshold=self._similarity_threshold(),
        )
        return Diagnosis(
            category=error.category, fingerprint=fp, message=error.message,
            error_type=error.type,
            suggestions=suggest(facts_for(source, root, durations=self._durations())),
            similar=similar, root_cause=root.ref(),
            cascade=analysis.cascade, other_roots=[r.ref() for r in analysis.other_roots],
            run_id=analysis.run.id, error=error,
        )

    def get_error_context(self, run_id: str) -> dict[str, Any]:
        """Return the state at the failure of a run: workflow inputs, the step's input,
        upstream outputs, vars, attempt number and the stack (user frames first)."""
        store = self._require_store("the error context")
        return error_context(store, self._analysis(run_id))

    def get_stack_trace(
        self, error_or_run_id: BaseException | ErrorInfo | str
    ) -> list[dict[str, Any]]:
        """Return the frames (outermost first): ``file``, ``line``, ``function``,
        ``is_user_code``; for a run id, those of its root cause."""
        if isinstance(error_or_run_id, str):
            root = self._analysis(error_or_run_id).root_cause
            error = root.error if root is not None else None
            return [] if error is None else stack_frames(error)
        if not isinstance(error_or_run_id, BaseException | ErrorInfo):
            raise DiagnosisError(f"no stack trace in a {type(error_or_run_id).__name__}",
                                 hint="pass an exception or a run id")
        return stack_frames(self._error_of(error_or_run_id))

    def suggest_fix(
        self, error_or_diagnosis: BaseException | ErrorInfo | Diagnosis | str
    ) -> list[Suggestion]:
        """Return suggested fixes for an exception, a diagnosis or a failed run id."""
        if isinstance(error_or_diagnosis, Diagnosis):
            return list(error_or_diagnosis.suggestions)
        return self.diagnose_error(error_or_diagnosis).suggestions

    def similar_errors(
        self, error_or_fingerprint: BaseException | ErrorInfo | Diagnosis | str, *,
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        """Return past failures like this one: its fingerprint's group, then near matches."""
        source = source_for(self._require_store("finding similar errors"))
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise DiagnosisError(f"limit {limit!r} must be a positive integer")
        threshold = self._similarity_threshold()
        if isinstance(error_or_fingerprint, str):
            return find_similar(source, error_or_fingerprint, threshold=threshold, limit=limit)
        if isinstance(error_or_fingerprint, Diagnosis):
            d = error_or_fingerprint
            exclude = {d.run_id} if d.run_id else set()
            return find_similar(source, d.fingerprint, normalized=normalize_message(d.message),
                                category=d.category, exclude_runs=exclude,
                                threshold=threshold, limit=limit)
        if not isinstance(error_or_fingerprint, BaseException | ErrorInfo):
            raise DiagnosisError(f"cannot look up errors like a {type(error_or_fingerprint)}",
                                 hint="pass an exception, a diagnosis or a fingerprint")
        error = self._error_of(error_or_fingerprint)
        return find_similar(source, fingerprint_error(error, None, None),
                            normalized=normalize_message(error.message),
                            category=error.category, threshold=threshold, limit=limit)

    def error_categories(self, **filters: Any) -> dict[str, int]:
        """Return failures per category (filters: since, until, workflow, version, user,
        workflow_type, step, category, include_cascade)."""
        return categories(source_for(self._require_store("error categories")), filters)

    def error_frequency(
        self, fingerprint: str | None = None, *, bucket: str = "1h", **filters: Any
    ) -> list[dict[str, Any]]:
        """Return failures per time bucket (``5m``, ``1h``, ``1d``...), oldest first."""
        source = source_for(self._require_store("error frequency"))
        return frequency(source, fingerprint, bucket, filters)

    def generate_error_report(self, run_id: str, *, format: str = "json") -> str:
        """Return everything known about a failed run as ``json``, ``markdown`` (``md``)
        or ``html``."""
        fmt = {"md": "markdown"}.get(format, format)
        if fmt not in ("json", "markdown", "html"):
            raise DiagnosisError(f"unknown report format {format!r}",
                                 hint="use json, markdown (md) or html")
        diagnosis = self._diagnose_run(run_id)
        context = self.get_error_context(run_id)
        freq = self.error_frequency(
            diagnosis.fingerprint, bucket="1d", include_cascade=True,
            since=datetime.now(UTC) - timedelta(days=30),
        )
        report = {
            "generated_at": datetime.now(UTC).isoformat(),
            "diagnosis": diagnosis.to_dict(), "context": context, "frequency": freq,
        }
        return render_report(report, fmt)


class Diagnoser(DiagnosisMixin):
    """The diagnosis methods on their own, over a store (and optionally an engine).

    Args:
        store: The journal to read runs from.
        engine: An engine (its classifier is used for bare exceptions).
        config: A ``DiagnosisConfig`` (its similarity threshold is used).
    """

    def __init__(self, store: Journal | None = None, *, engine: Any = None,
                 config: Any = None) -> None:
        self._store = store
        self._engine = engine
        self._diagnosis_config = config
