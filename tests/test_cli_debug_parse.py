"""The console debugger's parser and renderers, and ``flowscope debug`` in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from flowscope.cli.debug_commands import COMMANDS_BY_NAME
from flowscope.cli.debug_parse import (
    BreakSpec,
    check_steps,
    parse_break,
    parse_break_flag,
    parse_snapshot_id,
    split_assignment,
    tokens,
    unquote,
)
from flowscope.cli.debug_render import diff_lines, frame_path, steps_line, stop_header
from flowscope.cli.main import app
from flowscope.cli.options import CommandLineError
from flowscope.debugger import BreakpointKind, Stop, StopReason
from flowscope.engine.hooks import Frame
from flowscope.model import workflow_from_dict
from test_cli_debug import ACTS, PAY, SHOP


def test_tokens_keep_quoted_parts_with_spaces_together() -> None:
    words = [w for w, _, _ in tokens('pay vars.note="a b" inputs.x=2')]

    assert words == ["pay", 'vars.note="a b"', "inputs.x=2"]
    assert unquote('"say \\"hi\\""') == 'say "hi"'
    assert unquote("plain") == "plain"


@pytest.mark.parametrize(("text", "expected"), [
    ("charge", BreakSpec(BreakpointKind.STEP, step_id="charge")),
    ("charge if vars.total > 100",
     BreakSpec(BreakpointKind.STEP, step_id="charge", condition="vars.total > 100")),
    ("a -> b", BreakSpec(BreakpointKind.EDGE, step_id="b", source="a")),
    ("a->b hits >= 3", BreakSpec(BreakpointKind.EDGE, step_id="b", source="a",
                                 hit_condition=">= 3")),
    ("entry", BreakSpec(BreakpointKind.ENTRY)),
    ("entry pay", BreakSpec(BreakpointKind.ENTRY, workflow="pay")),
    ("error timeout DATA", BreakSpec(BreakpointKind.FAILURE, categories=("timeout", "data"))),
    ("failure", BreakSpec(BreakpointKind.FAILURE)),
    ('s log "x is {vars.x}" limit 2',
     BreakSpec(BreakpointKind.STEP, step_id="s", hit_limit=2, log_message="x is {vars.x}")),
    # ``if`` counts once: a condition may use the conditional expression.
    ("s if 1 if vars.a else 0 limit 1",
     BreakSpec(BreakpointKind.STEP, step_id="s", condition="1 if vars.a else 0", hit_limit=1)),
    # a keyword inside a quoted log message is part of the message.
    ("s log 'hits {vars.n} if any'",
     BreakSpec(BreakpointKind.STEP, step_id="s", log_message="hits {vars.n} if any")),
])
def test_parse_break_accepts_every_form(text: str, expected: BreakSpec) -> None:
    assert parse_break(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "needs a place"),
    ("a b", "bad breakpoint place"),
    ("a -> ", "bad edge"),
    ("s if", "needs a value"),
    ("s if vars.(", "invalid syntax"),
    ("s hits often", "invalid hit condition"),
    ("s limit 0", "positive whole number"),
    ("s log '{vars.'", "log"),
])
def test_parse_break_refuses_bad_specs(text: str, fragment: str) -> None:
    with pytest.raises(CommandLineError) as info:
        parse_break(text)
    assert fragment in str(info.value)


def test_break_flag_takes_step_colon_condition_or_the_prompt_syntax() -> None:
    assert parse_break_flag("charge:vars.x > 1") == BreakSpec(
        BreakpointKind.STEP, step_id="charge", condition="vars.x > 1")
    assert parse_break_flag("a -> b:vars.x") == BreakSpec(
        BreakpointKind.EDGE, step_id="b", source="a", condition="vars.x")
    assert parse_break_flag('s log "t: {vars.x}"').log_message == "t: {vars.x}"
    with pytest.raises(CommandLineError, match="empty condition"):
        parse_break_flag("charge:")
    with pytest.raises(CommandLineError, match="--break 'x y'"):
        parse_break_flag("x y")


def test_check_steps_names_the_known_steps() -> None:
    check_steps(parse_break("a -> b"), {"a": "w", "b": "w"})
    with pytest.raises(CommandLineError, match=r"no step 'zz'.*a, b"):
        check_steps(parse_break("a -> zz"), {"a": "w", "b": "w"})


def test_small_parsers() -> None:
    assert split_assignment("vars.x = 1 + 2", "set") == ("vars.x", "1 + 2")
    assert split_assignment("vars.x=a==b", "set") == ("vars.x", "a==b")
    for bad in ("vars.x", "= 1", "vars x = 1"):
        with pytest.raises(CommandLineError, match="PATH = EXPRESSION"):
            split_assignment(bad, "set")
    assert parse_snapshot_id("#3") == 3
    with pytest.raises(CommandLineError, match="not a snapshot id"):
        parse_snapshot_id("three")


def test_renderers_show_position_markers_and_diffs() -> None:
    wf = workflow_from_dict({"name": "w", "steps": [
        {"id": s, "uses": "x"} for s in ("a", "b", "c", "d", "e", "f")]})
    line = steps_line(wf, {"a": "completed", "b": "failed", "c": "skipped"}, "d", {"e"})
    assert line.plain == "  ✓ a  ✗ b  - c  ▶ d  ~ e  · f"

    frames = (Frame("r1" * 8, "shop", "pay"), Frame("r2" * 8, "pay", "capture"))
    stop = Stop(StopReason.STEP, "r2" * 8, "capture", frames, depth=2, number=4)
    assert frame_path(stop) == "shop > pay > capture"
    assert stop_header(stop).plain == "[stop 4] step at capture  run r2r2r2r2"

    diff = {"added": {"vars.x": 1}, "removed": {"vars.y": "z"},
            "changed": {"steps.a.output": {"old": 1, "new": 2}}}
    assert [t.plain for t in diff_lines(diff)] == [
        "  + vars.x = 1", '  - vars.y = "z"', "  ~ steps.a.output: 1 -> 2"]
    assert [t.plain for t in diff_lines({})] == ["  (no differences)"]


def test_every_command_and_alias_of_the_brief_exists() -> None:
    for name in ("break", "b", "clear", "breaks", "enable", "disable", "next", "n", "step",
                 "s", "return", "r", "continue", "c", "pause", "where", "w", "vars", "print",
                 "p", "watch", "unwatch", "watches", "set", "snapshots", "restore", "diff",
                 "fork", "trace", "help", "quit", "q", "retry"):
        assert name in COMMANDS_BY_NAME, name


# -- in process, through CliRunner ---------------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workflow of the end-to-end tests, in a working folder of its own."""
    (tmp_path / "shop.yaml").write_text(SHOP)
    (tmp_path / "pay.yaml").write_text(PAY)
    (tmp_path / "shop_acts.py").write_text(ACTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWSCOPE_DB", raising=False)
    monkeypatch.setenv("FLOWSCOPE_USER", "tester")
    return tmp_path / "shop.yaml"


def test_cli_runner_session_stops_and_completes(shop: Path) -> None:
    result = CliRunner().invoke(app, ["debug", str(shop), "--db", "runs.db", "-b", "capture"],
                                input="p inputs.amount\nnope\nc\n")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[stop 1] breakpoint #1 at capture" in out
    assert "(flowscope) p inputs.amount\n20\n" in out
    assert "(flowscope) nope\nerror: unknown command 'nope'" in out
    assert "completed" in out


def test_cli_runner_bad_break_exits_2_before_any_run(shop: Path) -> None:
    result = CliRunner().invoke(app, ["debug", str(shop), "--db", "runs.db", "-b", "zz"])

    assert result.exit_code == 2
    assert "no step 'zz'" in result.stderr
    assert "(flowscope)" not in result.stdout
    assert not (shop.parent / "runs.db").exists()  # refused before the store was opened


def test_console_width_does_not_wrap_the_position() -> None:
    # A narrow console still prints the steps line whole (soft wrap), for readable logs.
    console = Console(width=20, record=True)
    wf = workflow_from_dict({"name": "w", "steps": [{"id": "authorise", "uses": "x"},
                                                    {"id": "capture", "uses": "x"}]})
    console.print(steps_line(wf, {"authorise": "completed"}, "capture"), soft_wrap=True)
    assert console.export_text() == "  ✓ authorise  ▶ capture\n"
