"""``flowscope debug`` driven through a pipe, end to end, in a fresh interpreter.

Each test writes a small workflow (with a sub-workflow) and its actions module into
tmp_path, pipes a script of prompt commands in, and reads the transcript: the stops (in
order), what each command printed, and the exit code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # spawns processes: left out of the fast tier

SRC = Path(__file__).resolve().parent.parent / "src"

SHOP = """\
name: shop
inputs:
  qty: {type: integer, default: 2}
steps:
  - id: prepare
    uses: shop_acts:prepare
    with: {qty: "${{ inputs.qty }}"}
    set: {total: "${{ output.total }}"}
  - id: pay
    workflow: ./pay.yaml
    needs: [prepare]
    with: {amount: "${{ vars.total }}"}
  - id: finish
    uses: shop_acts:finish
    needs: [pay]
    with: {receipt: "${{ steps.pay.output.receipt }}"}
outputs:
  receipt: "${{ steps.finish.output.receipt }}"
  total: "${{ vars.total }}"
"""
PAY = """\
name: pay
inputs:
  amount: {type: number}
steps:
  - id: authorise
    uses: shop_acts:authorise
    with: {amount: "${{ inputs.amount }}"}
  - id: capture
    uses: shop_acts:capture
    needs: [authorise]
    with: {auth: "${{ steps.authorise.output.auth }}", amount: "${{ inputs.amount }}"}
outputs:
  receipt: "${{ steps.capture.output.receipt }}"
"""
ACTS = """\
def prepare(qty):
    return {"total": qty * 10}

def authorise(amount):
    return {"auth": f"AUTH-{amount}"}

def capture(auth, amount):
    if amount > 1000:
        raise ValueError(f"amount {amount} too large")
    return {"receipt": f"R-{auth}"}

def finish(receipt):
    return {"receipt": receipt.lower()}
"""

STOP = re.compile(r"^\[stop (\d+)\] (\w+)(?: #\d+)? at (\w+)", re.MULTILINE)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The workflow file (its sub-workflow and actions module beside it)."""
    (tmp_path / "shop.yaml").write_text(SHOP)
    (tmp_path / "pay.yaml").write_text(PAY)
    (tmp_path / "shop_acts.py").write_text(ACTS)
    return tmp_path / "shop.yaml"


def debug(shop: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``flowscope debug`` with ``script`` piped to it."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLOWSCOPE_USER": "tester"}
    env.pop("FLOWSCOPE_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "flowscope.cli.main", "debug", str(shop),
         "--db", f"sqlite:///{shop.parent / 'runs.db'}", *args],
        input=script, cwd=shop.parent, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )


def stops(out: str) -> list[tuple[str, str]]:
    """The (reason, step) of each stop, in order."""
    return [(m.group(2), m.group(3)) for m in STOP.finditer(out)]


def after(out: str, command: str) -> str:
    """What the prompt printed for ``command`` (up to the next prompt)."""
    start = out.index(f"(flowscope) {command}\n") + len(f"(flowscope) {command}\n")
    end = out.find("(flowscope) ", start)
    return out[start:] if end < 0 else out[start:end]


def test_stepping_commands_stop_where_expected(shop: Path) -> None:
    proc = debug(shop, "n\ns\nn\nr\nc\n", "--stop-on-entry")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stops(proc.stdout) == [
        ("entry", "prepare"),  # --stop-on-entry
        ("step", "pay"),  # n: over prepare
        ("step", "authorise"),  # s: into the payment sub-workflow
        ("step", "capture"),  # n: next step of the same frame
        ("step", "finish"),  # r: out of the sub-workflow, to the parent's next step
    ]
    assert "completed" in proc.stdout
    assert '"receipt": "r-auth-20"' in proc.stdout
    assert proc.stderr == ""


def test_position_shows_frame_path_step_markers_and_pending_input(shop: Path) -> None:
    proc = debug(shop, "c\n", "--break", "capture")

    out = proc.stdout
    assert stops(out) == [("breakpoint", "capture")]
    assert "  at shop > pay > capture\n" in out
    assert "  ✓ authorise  ▶ capture\n" in out
    assert '  input: {"auth": "AUTH-20", "amount": 20}' in out
    assert proc.returncode == 0


def test_break_with_condition_and_edge_then_continue(shop: Path) -> None:
    script = ("b capture if inputs.amount > 1000\nb pay -> finish\nbreaks\n"
              "b finish if vars.(\nc\nc\n")
    proc = debug(shop, script, "--stop-on-entry")

    out = proc.stdout
    # The conditional breakpoint does not hold (amount 20): the edge one stops the run.
    assert stops(out) == [("entry", "prepare"), ("breakpoint", "finish")]
    table = after(out, "breaks")
    assert re.search(r"1\s+capture\s+inputs\.amount > 1000\s+0\s+yes", table), table
    assert re.search(r"2\s+pay -> finish\s+0\s+yes", table), table
    assert after(out, "b finish if vars.(").startswith("error: invalid syntax")
    assert proc.returncode == 0


def test_inspect_watch_and_set_change_the_run(shop: Path) -> None:
    script = ("watch vars.total\np vars.total * 2\nvars\nset vars.total = vars.total + 5\n"
              "watches\nn\nw\nc\n")
    proc = debug(shop, script, "--break", "pay")

    out = proc.stdout
    assert stops(out) == [("breakpoint", "pay"), ("step", "finish")]
    assert after(out, "watch vars.total").startswith("watching vars.total = 20")
    assert after(out, "p vars.total * 2").strip() == "40"
    scopes = after(out, "vars")
    for line in ("inputs", "  qty = 2", "steps", '  prepare [completed] = {"total": 20}',
                 "vars", "  total = 20", "input (pending: pay)", "  amount = 20"):
        assert line + "\n" in scopes, scopes
    assert after(out, "set vars.total = vars.total + 5").startswith(
        "vars.total = 25 (was 20)")
    assert "vars.total = 25" in after(out, "watches")
    # The watch was shown as 20 when added: at the next stop it is marked changed.
    assert "  * watch vars.total = 25  (changed)" in after(out, "n")
    assert after(out, "w").splitlines() == [
        f"▶ 0 shop at finish  run {re.search(r'run ([0-9a-f]{8})', out).group(1)}",  # type: ignore[union-attr]
    ]
    assert '"total": 25' in out.split("(flowscope) c\n")[-1]
    assert proc.returncode == 0


def test_watch_marks_a_value_the_run_changed(shop: Path) -> None:
    proc = debug(shop, "watch get(vars, 'total')\nn\nn\nc\n", "--stop-on-entry")

    out = proc.stdout
    assert after(out, "watch get(vars, 'total')").startswith("watching get(vars, 'total') = null")
    assert "  * watch get(vars, 'total') = 20  (changed)" in after(out, "n")
    assert "    watch get(vars, 'total') = 20\n" in out.split("[stop 3]")[1]
    assert proc.returncode == 0


def test_where_lists_frames_root_first_with_the_current_marked(shop: Path) -> None:
    proc = debug(shop, "w\nc\n", "-b", "authorise")

    lines = after(proc.stdout, "w").splitlines()
    assert len(lines) == 2
    assert re.match(r"^  0 shop at pay  run [0-9a-f]{8}$", lines[0]), lines
    assert re.match(r"^▶ 1 pay at authorise  run [0-9a-f]{8}$", lines[1]), lines


def test_snapshots_diff_and_restore_rewind_the_run(shop: Path) -> None:
    script = "snapshots\ndiff 1\ndiff 1 2\nrestore 2\nc\nc\n"
    proc = debug(shop, script, "--break", "finish")

    out = proc.stdout
    table = after(out, "snapshots")
    for sid, step in ((1, "prepare"), (2, "pay"), (3, "authorise"), (4, "capture")):
        assert re.search(rf"^{sid}\s+{step}\s", table, re.MULTILINE), table
    assert re.search(r"^5\s+finish\s.*◀ now", table, re.MULTILINE), table
    d1 = after(out, "diff 1")
    assert "snapshot 1 -> 5" in d1
    assert "  + vars.total = 20" in d1
    assert '  + steps.pay = {"output": {"receipt": "R-AUTH-20"}' in d1
    assert "  + vars.total = 20" in after(out, "diff 1 2")
    assert after(out, "restore 2").startswith("restored snapshot 2; running again: pay")
    # The rewound run stops again before pay (its steps after it run again), then ends.
    assert stops(out) == [("breakpoint", "finish"), ("step", "pay"), ("breakpoint", "finish")]
    assert proc.returncode == 0


def test_fork_reports_the_new_run_and_its_result(shop: Path) -> None:
    proc = debug(shop, "fork pay vars.total=500\nfork nowhere\nc\n", "--break", "finish")

    out = after(proc.stdout, "fork pay vars.total=500")
    assert "reusing prepare; running pay, finish" in out
    assert re.search(r"fork run [0-9a-f-]{36} completed", out), out
    assert '"receipt": "r-auth-500"' in out
    assert after(proc.stdout, "fork nowhere").startswith("error: no step 'nowhere'")
    assert proc.returncode == 0


def test_trace_breaks_help_and_bad_commands_keep_the_prompt(shop: Path) -> None:
    script = "trace\nhelp\nhelp n\nfrobnicate\nb\nclear 9\nset x\np 1 +\nc\n"
    proc = debug(shop, script, "--break", "finish")

    out = proc.stdout
    trace = after(out, "trace")
    assert re.search(r"^prepare\s+1\s+completed", trace, re.MULTILINE), trace
    assert re.search(r"^pay\s+1\s+completed", trace, re.MULTILINE), trace
    helptext = after(out, "help")
    for usage in ("b WHERE", "clear", "breaks", "n ", "s ", "r ", "c ", "pause", "w ", "vars",
                  "p EXPR", "watch", "set PATH = EXPR", "snapshots", "restore ID", "diff A",
                  "fork STEP", "trace", "help", "q "):
        assert usage in helptext, usage
    assert "Step over" in after(out, "help n")
    for bad in ("frobnicate", "clear 9", "set x", "p 1 +"):
        lines = after(out, bad).splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (bad, lines)
    assert "Traceback" not in out + proc.stderr
    assert proc.returncode == 0  # the last command still let the run complete


def test_logpoint_prints_and_does_not_stop(shop: Path) -> None:
    proc = debug(shop, "", "--break", 'authorise log "amount={inputs.amount}"')

    assert stops(proc.stdout) == []
    assert "logpoint [authorise] amount=20" in proc.stdout
    assert proc.returncode == 0


def test_quit_and_end_of_input_cancel_the_run_exit_1(shop: Path) -> None:
    quit_proc = debug(shop, "q\n", "--stop-on-entry")
    eof_proc = debug(shop, "", "--stop-on-entry")

    for proc in (quit_proc, eof_proc):
        assert proc.returncode == 1, proc.stdout
        assert re.search(r"run [0-9a-f-]{36} \(shop\) cancelled", proc.stdout), proc.stdout
    assert "end of input: cancelling the run" in eof_proc.stdout


def test_failure_with_stop_on_error_retry_with_edited_input(shop: Path) -> None:
    proc = debug(shop, "set input.amount = 7\nretry\n", "--stop-on-error", "-i", "qty=200")

    out = proc.stdout
    assert stops(out) == [("exception", "capture")]
    assert "error: ValueError: amount 2000 too large" in out
    assert "completed" in out
    assert proc.returncode == 0


def test_failed_run_exits_1_with_root_cause(shop: Path) -> None:
    proc = debug(shop, "", "-i", "qty=200")

    assert proc.returncode == 1
    assert "failed" in proc.stdout
    assert "root cause: pay > capture: ValueError: amount 2000 too large" in proc.stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (["--break", "nope"], "no step 'nope'"),
    (["--break", "capture:vars.("], "invalid syntax"),
    (["--break", "capture:"], "empty condition"),
    (["--break", "a b c"], "bad breakpoint place"),
    (["-i", "qty=many"], "--input qty"),
])
def test_bad_input_is_one_line_and_exit_2(shop: Path, args: list[str], fragment: str) -> None:
    proc = debug(shop, "", *args)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_file_exits_2(tmp_path: Path) -> None:
    proc = debug(tmp_path / "missing.yaml", "")

    assert proc.returncode == 2
    assert "not found" in proc.stderr


@pytest.mark.parametrize(("command", "again", "kept", "charges"), [
    ("restore 1", "pay", "prepare", 1),
    ("restore 1 --rerun-effects", "prepare, pay", None, 2),
])
def test_restore_keeps_external_steps_unless_asked(shop: Path, command: str, again: str,
                                                   kept: str | None, charges: int) -> None:
    shop.write_text(SHOP.replace("    uses: shop_acts:prepare\n",
                                 "    uses: shop_acts:prepare\n    effects: external\n"))
    acts = shop.parent / "shop_acts.py"
    acts.write_text(ACTS.replace(
        "def prepare(qty):\n",
        "def prepare(qty):\n    with open('charges.txt', 'a') as f:\n        f.write('x')\n"))
    proc = debug(shop, f"{command}\nc\nc\n", "--break", "finish")

    out = after(proc.stdout, command)
    assert out.startswith(f"restored snapshot 1; running again: {again}\n"), out
    if kept is None:
        assert "kept" not in out
    else:
        assert f"kept the recorded results of external steps: {kept}" in out
    first = again.split(", ")[0]
    assert stops(proc.stdout) == [("breakpoint", "finish"), ("step", first),
                                  ("breakpoint", "finish")]
    assert (shop.parent / "charges.txt").read_text() == "x" * charges
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_step_into_enters_the_sub_workflow_while_a_sibling_is_ready(shop: Path) -> None:
    shop.write_text(SHOP.replace("  - id: finish\n", """\
  - id: note
    uses: shop_acts:finish
    needs: [prepare]
    with: {receipt: "NOTE"}
  - id: finish
"""))
    proc = debug(shop, "s\nc\n", "--break", "pay")

    # At pay, the sibling note is ready too (held while the run is stopped); 's' still
    # enters the payment sub-workflow instead of stopping at note.
    assert stops(proc.stdout) == [("breakpoint", "pay"), ("step", "authorise")]
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_detach_leaves_the_run_interrupted_and_resume_finishes_it(shop: Path) -> None:
    proc = debug(shop, "b finish\nc\ndetach\n", "--stop-on-entry")
    assert proc.returncode == 130, proc.stdout + proc.stderr
    found = re.search(r"resume it with: flowscope resume ([0-9a-f-]{36}) --db (\S+)",
                      proc.stdout)
    assert found, proc.stdout
    assert re.search(rf"run {found.group(1)} \(shop\) interrupted", proc.stdout)
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLOWSCOPE_USER": "tester"}
    resumed = subprocess.run(
        [sys.executable, "-m", "flowscope.cli.main", "resume", found.group(1), "--db",
         found.group(2), "--json"], cwd=shop.parent, env=env, capture_output=True,
        text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    done = json.loads(resumed.stdout)
    assert done["status"] == "completed" and done["outputs"]["total"] == 20
    # The step the debugger held back ran in the resume.
    assert [s["step"] for s in done["steps"]][-1] == "finish"


SLOW = """\
name: slowdbg
steps:
  - {id: first, uses: slow_acts:hold}
  - {id: second, uses: slow_acts:quick, needs: [first]}
"""
SLOW_ACTS = """\
import pathlib, time

def hold():
    here = pathlib.Path(__file__).parent
    (here / "started").write_text("1")
    for _ in range(600):  # bounded: released by the test
        if (here / "release").exists():
            return "held"
        time.sleep(0.05)
    return "timed out waiting"

def quick():
    return "quick"
"""


def test_ctrl_c_while_the_run_goes_stops_it_resumably(tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    (tmp_path / "slow_acts.py").write_text(SLOW_ACTS)
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLOWSCOPE_USER": "tester"}
    env.pop("FLOWSCOPE_DB", None)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowscope.cli.main", "debug", str(tmp_path / "slow.yaml"),
         "--db", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=tmp_path, env=env, text=True)
    for _ in range(600):  # wait (bounded) for the first step to be running
        if (tmp_path / "started").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    (tmp_path / "release").write_text("1")  # the running step finishes and commits
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    found = re.search(r"resume it with: flowscope resume ([0-9a-f-]{36})", out)
    assert found, out
    resumed = subprocess.run(
        [sys.executable, "-m", "flowscope.cli.main", "resume", found.group(1), "--db", db,
         "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    steps = json.loads(resumed.stdout)["steps"]
    # The running step finished before the interrupt took effect: it is not run again.
    assert [(s["step"], s["status"]) for s in steps] == [("first", "completed"),
                                                         ("second", "completed")]
