"""The names ``flowscope`` promises: pinned, so a change to them is a deliberate one."""

from __future__ import annotations

import ast
import inspect

import flowscope

PINNED = [
    "AccessDeniedError", "ActionNotFoundError", "AnalyticsError", "AnalyticsTracker",
    "BreakpointError", "ChildRunFailedError", "CycleError", "Debugger", "DebuggerError",
    "DebuggerValueError", "DefinitionError", "Diagnoser", "DiagnosisError", "Engine",
    "EngineHooks", "ErrorInfo", "Event", "EventKind", "Executor", "ExpressionError",
    "ExpressionEvalError", "ExpressionSyntaxError", "FilterError", "Filters", "FlowscopeError",
    "HitConditionError", "InputError", "InvalidTransitionError", "InvalidValueError",
    "Journal", "LeaseLostError", "MemoryStore", "NotStoppedError", "Outcome",
    "OutputNotSerializableError", "PendingStep", "RecursionLimitError", "RunControl",
    "RunHandle", "RunNotFoundError", "RunOwnedError", "RunRecord", "RunResult",
    "RunStateError", "RunStatus", "RunWaitTimeoutError", "SQLStore", "Session",
    "SessionNotFoundError", "SnapshotNotFoundError", "StepAttemptRecord", "StepCall",
    "StepCancelledError", "StepContext", "StepStatus", "StepTimeoutError", "Stop",
    "StoreError", "Workflow", "WorkflowAnalyticsEngine", "WorkflowBuilder", "WorkflowDebugger",
    "__version__", "current_step", "get_analytics_engine", "load_workflow", "open_store",
    "workflow_from_dict", "workflow_from_json", "workflow_from_yaml",
]


def test_export_list_is_pinned() -> None:
    assert flowscope.__all__ == PINNED


def test_every_exported_name_resolves() -> None:
    for name in PINNED:
        assert getattr(flowscope, name) is not None, name


def test_the_type_checking_imports_name_the_same_exports() -> None:
    # The lazy table is the one list; the imports for type checkers must follow it.
    tree = ast.parse(inspect.getsource(flowscope))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module is not None
                typed.update({alias.name: imp.module for alias in imp.names})
    table = flowscope._EXPORTS  # type: ignore[attr-defined]
    assert typed == {k: v for k, v in table.items() if k != "FlowscopeError"}


def test_every_error_of_the_error_tree_is_exported() -> None:
    import flowscope.errors

    tree = {name for name, value in vars(flowscope.errors).items()
            if isinstance(value, type) and issubclass(value, flowscope.FlowscopeError)}
    assert tree <= set(PINNED)


def test_unknown_names_raise_attribute_error() -> None:
    try:
        flowscope.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


SEED_DEBUGGER = [
    "set_breakpoint", "clear_breakpoint", "has_breakpoint", "list_breakpoints",
    "breakpoint_count", "should_pause", "capture_state", "get_variable", "set_current_step",
    "set_step_mode", "take_snapshot", "create_snapshot", "get_snapshots", "snapshot_count",
    "restore_snapshot", "compare_states", "add_watch", "watch_variable", "get_watched_values",
    "watch_triggered", "inspect_variable", "list_variables", "get_execution_state",
    "start_tracing", "stop_tracing", "get_trace", "start", "wait_for_stop", "step_over",
    "step_into", "step_out", "continue_execution", "pause_execution", "diagnose_error",
    "get_error_context", "get_stack_trace", "suggest_fix", "similar_errors",
    "error_categories", "error_frequency", "generate_error_report",
]

SEED_ANALYTICS = [
    "track_workflow_start", "track_workflow_complete", "track_workflow_failure",
    "track_step_execution", "record_step_timing", "record_step_duration",
    "record_execution_time", "track_memory_usage", "track_cpu_usage",
    "record_concurrent_executions", "calculate_average_duration",
    "calculate_percentile_duration", "calculate_throughput", "get_workflow_statistics",
    "get_step_statistics", "get_error_rate", "get_success_rate", "get_most_failed_steps",
    "get_slowest_steps", "get_execution_trends", "get_user_analytics", "filter_by_time_range",
    "aggregate_by_workflow_type", "export_to_csv", "export_to_json",
]


def test_seed_compatible_names_exist() -> None:
    for name in SEED_DEBUGGER:
        assert callable(getattr(flowscope.WorkflowDebugger, name, None)), name
    for name in SEED_ANALYTICS:
        assert callable(getattr(flowscope.WorkflowAnalyticsEngine, name, None)), name
    assert "fork" in dict(inspect.getmembers(flowscope.Engine))
