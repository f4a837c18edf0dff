"""Error reports in three formats, data-backed suggestions, config rules and the CLI."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowscope.cli.main import app
from flowscope.compat import Diagnoser
from flowscope.diagnosis import DiagnosisError, load_config
from flowscope.diagnosis.report import SECTIONS
from flowscope.engine import Engine
from flowscope.model import workflow_from_dict
from flowscope.store import open_store

VOID = {"meta", "br", "hr", "img", "input", "link"}


class Structure(HTMLParser):
    """Checks that every element is closed in order; collects section ids and tables."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.sections: list[str] = []
        self.tables = 0
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.sections.append(dict(attrs).get("id") or "")
        self.tables += tag == "table"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def parse(bad: str) -> dict[str, Any]:
    raise ValueError(f"cannot parse {bad!r} as an amount")


def failing_run(store: Any) -> str:
    w = workflow_from_dict({"name": "import", "inputs": {"amount": {"type": "string"}},
                            "steps": [{"id": "load", "uses": "parse",
                                       "with": {"bad": "${{ inputs.amount }}"}}]})
    return Engine(store, actions={"parse": parse}).run(w, {"amount": "12,5<b>"}).id


def test_reports_in_json_markdown_and_html(sqlite_store: Any) -> None:
    run_id = failing_run(sqlite_store)
    diagnoser = Diagnoser(sqlite_store)
    data = json.loads(diagnoser.generate_error_report(run_id, format="json"))
    assert data["diagnosis"]["root_cause"]["step_id"] == "load"
    assert data["diagnosis"]["category"] == "validation"
    assert data["context"]["step_input"] == {"bad": "12,5<b>"}
    assert data["context"]["inputs"] == {"amount": "12,5<b>"}
    assert data["frequency"][0]["count"] == 1
    why = data["diagnosis"]["suggestions"][0]["why"]
    assert "input.bad" in why and "inputs.amount" in why  # the offending value, found

    md = diagnoser.generate_error_report(run_id, format="md")
    assert md.startswith(f"# Error report: run {run_id}")
    assert diagnoser.generate_error_report(run_id, format="markdown").startswith("# Error")
    for _, title in SECTIONS:
        assert f"## {title}" in md
    assert "| category | validation |" in md

    page = diagnoser.generate_error_report(run_id, format="html")
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert parser.sections == [key for key, _ in SECTIONS]
    assert parser.tables >= 3
    assert "12,5&lt;b&gt;" in page and "12,5<b>" not in page  # input values are escaped
    with pytest.raises(DiagnosisError, match="format"):
        diagnoser.generate_error_report(run_id, format="pdf")


def test_timeout_suggestion_uses_p99_and_the_retry_policy(memory_store: Any) -> None:
    def sleepy() -> None:
        import time
        time.sleep(0.2)

    w = workflow_from_dict({"name": "t", "steps": [
        {"id": "call", "uses": "sleepy", "timeout": 0.1}]})
    run = Engine(memory_store, actions={"sleepy": sleepy}).run(w)
    tips = Diagnoser(memory_store).suggest_fix(run.id)
    assert tips[0].category == "timeout"
    assert "timeout of 0.1s" in tips[0].why
    assert any(t.title == "Retry timeouts" and "not retried" in t.why for t in tips)


def test_config_rules_reach_the_classifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "flowscope.yaml"
    cfg.write_text("classification:\n  rules:\n"
                   "    - {category: rate_limit, message: 'quota used'}\n"
                   "  similarity_threshold: 0.9\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.similarity_threshold == 0.9
    assert config.classifier()(ValueError("daily quota used up")) == "rate_limit"
    monkeypatch.setenv("FLOWSCOPE_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(DiagnosisError, match="not found"):
        load_config()
    cfg.write_text("classification:\n  rules:\n    - {category: nope, message: x}\n",
                   encoding="utf-8")
    with pytest.raises(DiagnosisError, match=r"rules\[0\].*nope"):
        load_config(cfg)


def test_cli_why_errors_and_report(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    store = open_store(db)
    run_id = failing_run(store)
    store.close()
    runner = CliRunner()
    why = runner.invoke(app, ["why", run_id, "--db", db])
    assert why.exit_code == 0, why.output
    assert "Root cause" in why.output and "load" in why.output and "ValueError" in why.output
    listed = runner.invoke(app, ["errors", "--since", "1d", "--db", db, "--json"])
    assert listed.exit_code == 0
    assert json.loads(listed.output)[0]["count"] == 1
    out = tmp_path / "report.html"
    made = runner.invoke(app, ["report-error", run_id, "--format", "html", "-o", str(out),
                               "--db", db])
    assert made.exit_code == 0 and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    for args, fragment in [
        (["why", "no-such-run", "--db", db], "no run"),
        (["errors", "--since", "yesterday", "--db", db], "--since"),
        (["report-error", run_id, "--format", "pdf", "--db", db], "--format"),
    ]:
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2, bad.output
        assert fragment in bad.output and "Traceback" not in bad.output
        assert len(bad.output.strip().splitlines()) == 1
