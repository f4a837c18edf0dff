"""``flowscope run`` and ``validate`` end to end: exit codes, output, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flowscope.cli.main import app

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SRC = REPO / "src"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own folder (the examples write under ./.flowscope/)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOWSCOPE_DB", raising=False)
    monkeypatch.setenv("FLOWSCOPE_USER", "tester")
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLOWSCOPE_USER": "tester"}
    env.pop("FLOWSCOPE_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "flowscope.cli.main", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def assert_clean_error(stderr: str, *fragments: str) -> None:
    """Exactly one line, naming the problem, and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


# -- running the examples ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "output_key"),
    [("order_fulfilment.yaml", "tracking_number"), ("data_pipeline.yaml", "best_region"),
     ("flaky_service.yaml", "service_calls"), ("payment.yaml", "payment_id")],
)
def test_run_each_example_exits_0_and_prints_steps_and_outputs(
    workdir: Path, example: str, output_key: str
) -> None:
    db = f"sqlite:///{workdir / 'runs.db'}"
    result = invoke("run", str(EXAMPLES / example), "--db", db)

    assert result.exit_code == 0, result.output
    assert "completed" in result.stdout
    assert output_key in result.stdout
    assert result.stderr == ""


def test_run_prints_one_plain_line_per_step_event_off_a_terminal(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "order_fulfilment.yaml"), "--db", "runs.db")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "start   validate_order" in out
    assert "skip    gift_wrap (condition)" in out
    assert "payment/authorise" in out  # steps of the sub-workflow, under their parent step
    assert out.index("start   validate_order") < out.index("done    notify_customer")


def test_run_json_reports_status_outputs_and_every_attempt(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "flaky_service.yaml"), "--db", "runs.db", "--json",
                    "--input", f"state_dir={workdir / 'state'}")

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "completed"
    assert payload["outputs"]["service_calls"] == 5
    attempts = [s["attempt"] for s in payload["steps"] if s["step"] == "check_inventory"]
    assert attempts == [1, 2, 3]


def test_run_coerces_inputs_and_records_user_and_tags(workdir: Path) -> None:
    result = invoke(
        "run", str(EXAMPLES / "order_fulfilment.yaml"), "--db", "runs.db", "--json",
        "-i", "gift_wrap=yes", "-i", 'items=[{"sku": "TEA-3", "qty": 4}]',
        "--user", "ada", "--tag", "type=checkout", "--tag", "region=eu", "--concurrency", "2",
    )

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["outputs"]["total"] == 19.5  # 4 x 4.25 + 2.50 wrapping
    shown = json.loads(invoke("show", payload["run_id"], "--db", "runs.db", "--json").stdout)
    assert shown["user"] == "ada"
    assert shown["tags"] == {"type": "checkout", "region": "eu"}
    assert shown["inputs"]["gift_wrap"] is True


def test_run_reads_inputs_from_a_file_and_input_flags_win(workdir: Path) -> None:
    (workdir / "inputs.yaml").write_text("order_id: ORD-77\ngift_wrap: true\n")
    result = invoke("run", str(EXAMPLES / "order_fulfilment.yaml"), "--db", "runs.db",
                    "--json", "--input-file", "inputs.yaml", "--input", "gift_wrap=false")

    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    assert outputs["order_id"] == "ORD-77"
    assert outputs["gift_wrapped"] is False


def test_a_failed_run_exits_1_and_names_the_failing_step(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "flaky_service.yaml"), "--db", "runs.db",
                    "--input", "fail_hard=true")

    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout
    assert "step check_inventory: " in result.stdout
    assert "ServiceUnavailable" in result.stdout
    assert "Traceback" not in result.output


def test_quiet_prints_only_the_result(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "payment.yaml"), "--db", "runs.db", "--quiet")

    assert result.exit_code == 0, result.output
    assert "start" not in result.stdout
    assert "completed" in result.stdout and "payment_id" in result.stdout


def test_db_from_the_environment_is_used(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSCOPE_DB", str(workdir / "env.db"))
    assert invoke("run", str(EXAMPLES / "payment.yaml"), "-q").exit_code == 0
    assert (workdir / "env.db").exists()
    assert not (workdir / ".flowscope" / "flowscope.db").exists()


def test_default_db_is_under_dot_flowscope(workdir: Path) -> None:
    assert invoke("run", str(EXAMPLES / "payment.yaml"), "-q").exit_code == 0
    assert (workdir / ".flowscope" / "flowscope.db").exists()


# -- bad input: exit 2, one line, no traceback ---------------------------------------------


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_missing_file(workdir: Path) -> None:
    result = invoke("run", "nope.yaml", "--db", "runs.db")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "nope.yaml", "not found")


def test_invalid_yaml_names_the_line(workdir: Path) -> None:
    path = _write(workdir / "bad.yaml",
                  "name: bad\nsteps:\n  - id: a\n    uses: [unclosed\n  - id: b\n")
    result = invoke("run", path, "--db", "runs.db")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "invalid YAML", "line ")


def test_cycle(workdir: Path) -> None:
    path = _write(workdir / "cycle.yaml", (
        "name: cyclic\nsteps:\n"
        "  - {id: a, uses: 'm:f', needs: [b]}\n"
        "  - {id: b, uses: 'm:f', needs: [a]}\n"
    ))
    result = invoke("run", path, "--db", "runs.db")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "cycle")


def test_bad_input_type(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "data_pipeline.yaml"), "--db", "runs.db",
                    "--input", "orders_per_region=lots")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "orders_per_region", "not an integer")


def test_unknown_input(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "payment.yaml"), "--db", "runs.db",
                    "--input", "colour=blue")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "unknown input 'colour'")


def test_missing_required_input(workdir: Path) -> None:
    path = _write(workdir / "req.yaml", (
        "name: needs_input\ninputs:\n  who: {type: string, required: true}\n"
        "steps:\n  - id: a\n    uses: json:dumps\n    with: {obj: '${{ inputs.who }}'}\n"
    ))
    result = invoke("run", path, "--db", "runs.db")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "missing required input 'who'")


def test_input_that_is_not_key_value(workdir: Path) -> None:
    result = invoke("run", str(EXAMPLES / "payment.yaml"), "--db", "runs.db", "--input", "oops")
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "key=value")


def test_bad_input_file(workdir: Path) -> None:
    path = _write(workdir / "in.json", "{not json")
    result = invoke("run", str(EXAMPLES / "payment.yaml"), "--db", "runs.db",
                    "--input-file", path)
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "not valid JSON")


@pytest.mark.parametrize("url", ["oracle://scott@db/orcl", "postgresql+nodriver://x/y",
                                 "not a url://x"])
def test_bad_db_url(workdir: Path, url: str) -> None:
    result = invoke("run", str(EXAMPLES / "payment.yaml"), "--db", url)
    assert result.exit_code == 2
    assert_clean_error(result.stderr)


def test_db_path_that_is_a_directory(workdir: Path) -> None:
    (workdir / "adir").mkdir()
    result = invoke("runs", "--db", str(workdir / "adir"))
    assert result.exit_code == 2
    assert_clean_error(result.stderr, "directory")


def test_usage_errors_are_one_line_too(workdir: Path) -> None:
    for args in (["run"], ["run", "x.yaml", "--bogus"], ["nosuchcommand"],
                 ["run", "x.yaml", "--concurrency", "0"]):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert_clean_error(result.stderr)


# -- validate ------------------------------------------------------------------------------


def test_validate_ok_and_bad_files(workdir: Path) -> None:
    ok = invoke("validate", str(EXAMPLES / "order_fulfilment.yaml"),
                str(EXAMPLES / "data_pipeline.yaml"))
    assert ok.exit_code == 0
    assert ok.stdout.splitlines() == ["ok: order_fulfilment (6 steps)",
                                      "ok: data_pipeline (9 steps)"]

    bad = _write(workdir / "bad.yaml", "name: x\nsteps: []\n")
    mixed = invoke("validate", str(EXAMPLES / "payment.yaml"), bad)
    assert mixed.exit_code == 2
    assert mixed.stdout.strip() == "ok: payment (2 steps)"
    assert_clean_error(mixed.stderr, "bad.yaml", "steps")


# -- the real console script ---------------------------------------------------------------


def test_subprocess_run_example_and_failed_run(tmp_path: Path) -> None:
    ok = cli("run", str(EXAMPLES / "order_fulfilment.yaml"), "--db", "runs.db", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "notify_customer" in ok.stdout and "completed" in ok.stdout
    assert (tmp_path / ".flowscope" / "outbox" / "shipments.jsonl").exists()

    failed = cli("run", str(EXAMPLES / "flaky_service.yaml"), "--db", "runs.db",
                 "--input", "fail_hard=true", cwd=tmp_path)
    assert failed.returncode == 1
    assert "check_inventory" in failed.stdout

    listed = cli("runs", "--db", "runs.db", "--json", cwd=tmp_path)
    assert listed.returncode == 0
    assert [r["status"] for r in json.loads(listed.stdout)] == ["failed", "completed"]


@pytest.mark.parametrize("args", [
    ["run", "missing.yaml"],
    ["run", "--nope"],
    ["show", "0000"],
    ["runs", "--since", "last tuesday"],
    ["runs", "--db", "mysql://u@h/db"],
])
def test_subprocess_bad_input_exits_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert_clean_error(done.stderr)


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("flowscope ")
