"""The error report of one run as JSON, Markdown or HTML.

The report is a plain dict (``generated_at``, ``diagnosis``, ``context``, ``frequency``);
Markdown and HTML render the same sections in the same order. HTML is built with
``html.escape`` on every value (no template engine): well-formed, every element closed,
one ``<section id=...>`` per part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

#: Report sections, in order: (id, title).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("root-cause", "Root cause"),
    ("cascade", "Cascade"),
    ("suggestions", "Suggested fixes"),
    ("similar", "Similar errors"),
    ("context", "State at failure"),
    ("stack", "Stack trace"),
    ("frequency", "Frequency (last 30 days)"),
)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=True)


def _tables(report: Mapping[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Return each tabular section as (header, rows) of text."""
    d = report["diagnosis"]
    ctx = report["context"]
    stack = ctx.get("stack") or {}
    return {
        "summary": (["field", "value"], [
            ["run", str(d.get("run_id"))], ["workflow", str(ctx.get("workflow"))],
            ["version", str(ctx.get("version"))], ["status", str(ctx.get("status"))],
            ["category", str(d["category"])], ["error type", str(d["error_type"])],
            ["message", str(d["message"])], ["fingerprint", str(d["fingerprint"])],
            ["attempt", str(ctx.get("attempt"))],
        ]),
        "root-cause": (["", "run", "step", "workflow"], [
            ["root cause", str((d.get("root_cause") or {}).get("run_id")),
             str((d.get("root_cause") or {}).get("step_id")),
             str((d.get("root_cause") or {}).get("workflow"))],
            *[["other root", str(r["run_id"]), str(r["step_id"]), str(r.get("workflow"))]
              for r in d.get("other_roots", ())],
        ]),
        "cascade": (["run", "step", "status", "reason", "caused by"], [
            [str(c["run_id"]), str(c["step_id"]), str(c["status"]), str(c.get("reason")),
             f"{c.get('cause_run_id')} / {c.get('cause_step_id')}"]
            for c in d.get("cascade", ())
        ]),
        "suggestions": (["suggestion", "why", "action"], [
            [s["title"], s["why"], s.get("action") or ""] for s in d.get("suggestions", ())
        ]),
        "similar": (["match", "fingerprint", "where", "count", "first seen", "last seen",
                     "versions", "resolved"], [
            [f"{s['match']} ({s['similarity']:.2f})", s["fingerprint"],
             f"{s['workflow']}.{s['step_id']}", str(s["count"]), str(s["first_seen"]),
             str(s["last_seen"]), ", ".join(s["versions"]), _resolved(s)]
            for s in d.get("similar", ())
        ]),
        "stack": (["function", "file", "line"], [
            [f["function"], f["file"], str(f["line"])] for f in stack.get("user_frames", ())
        ]),
        "frequency": (["day", "failures"], [
            [str(b["bucket"])[:10], str(b["count"])] for b in report.get("frequency", ())
        ]),
    }


def _resolved(s: Mapping[str, Any]) -> str:
    if not s.get("resolved"):
        return "no"
    by = s.get("resolved_by") or {}
    changed = "version changed" if s.get("version_changed") else (
        "definition changed" if s.get("definition_changed") else "no definition change")
    return f"yes, run {by.get('run_id')} ({changed})"


def _context_blocks(ctx: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [("Workflow inputs", ctx.get("inputs")), ("Step input", ctx.get("step_input")),
            ("Upstream outputs", ctx.get("upstream_outputs")), ("Variables", ctx.get("vars"))]


# -- Markdown ------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or " "


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render the report as Markdown."""
    d = report["diagnosis"]
    tables = _tables(report)
    lines = [f"# Error report: run {d.get('run_id')}", "",
             f"Generated {report.get('generated_at')}.", ""]
    for key, title in SECTIONS:
        lines += [f"## {title}", ""]
        if key == "context":
            for label, value in _context_blocks(report["context"]):
                lines += [f"### {label}", "", "```json", _json(value), "```", ""]
            continue
        lines += _md_table(*tables[key])
        if key == "stack":
            stack = report["context"].get("stack") or {}
            lines += [f"{stack.get('library_frame_count', 0)} library frame(s) collapsed.", ""]
    return "\n".join(lines)


# -- HTML ----------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "pre{background:#f6f6f6;padding:.5rem;overflow:auto}"
)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "<p class=\"empty\">none</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Mapping[str, Any]) -> str:
    """Render the report as a standalone HTML page."""
    d = report["diagnosis"]
    tables = _tables(report)
    title = f"Error report: run {d.get('run_id')}"
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
        f"<title>{escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Generated {escape(str(report.get('generated_at')))}.</p>",
    ]
    for key, heading in SECTIONS:
        parts.append(f"<section id=\"{key}\"><h2>{escape(heading)}</h2>")
        if key == "context":
            for label, value in _context_blocks(report["context"]):
                parts.append(f"<h3>{escape(label)}</h3><pre>{escape(_json(value))}</pre>")
        else:
            parts.append(_html_table(*tables[key]))
        if key == "stack":
            stack = report["context"].get("stack") or {}
            parts.append(f"<p>{int(stack.get('library_frame_count', 0))} library frame(s) "
                         "collapsed.</p>")
            error = report["context"].get("error") or {}
            if error.get("traceback"):
                parts.append(f"<pre class=\"traceback\">{escape(error['traceback'])}</pre>")
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def render_report(report: Mapping[str, Any], fmt: str) -> str:
    """Render the report in ``json``, ``markdown`` or ``html``."""
    if fmt == "json":
        return _json(report) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    return render_html(report)
