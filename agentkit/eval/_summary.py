"""``summary.md`` and ``summary.html`` of an eval, from its rows (no network; the HTML's
charts are drawn here, as inline SVG, by :mod:`agentkit.eval._summary_charts`)."""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from pathlib import Path

from agentkit.eval.results import AttemptRow, Summary, task_lines


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def headline(s: Summary) -> list[tuple[str, str]]:
    """The summary's figures as (label, value) pairs, shared by the markdown and the HTML."""
    per_task = s.tasks or 1
    facts = [
        (
            "accuracy",
            f"{s.correct}/{s.graded} = {pct(s.accuracy)} (95% Wilson interval {pct(s.ci_low)}-{pct(s.ci_high)})",
        ),
    ]
    if s.attempts > 1:
        facts.append(("pass@k", ", ".join(f"pass@{k} {pct(v)}" for k, v in s.pass_at_k.items())))
    facts += [
        (
            "attempts",
            f"{s.tasks} tasks x {s.attempts} = {s.runs}; {s.graded} graded, {s.failed} failed, {s.not_run} not run",
        ),
        ("cost", f"${s.cost_usd:.4f} in all, ${s.cost_usd / per_task:.4f} per task (judge ${s.judge_cost_usd:.4f})"),
        ("tokens", f"{s.tokens:,} in all, {s.tokens // per_task:,} per task"),
    ]
    return facts


def steps_line(rows: Sequence[AttemptRow]) -> str:
    steps = [r.steps for r in rows if r.status != "not_run"]
    if not steps:
        return "no attempt ran"
    return f"mean {statistics.fmean(steps):.1f}, median {statistics.median(steps):g}, max {max(steps)}"


def _cell(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def render_markdown(s: Summary, rows: Sequence[AttemptRow]) -> str:
    out = [f"# Eval: {s.suite} ({s.content_hash[:8]})", ""]
    out += [f"- **{label}**: {value}" for label, value in headline(s)]
    out += [f"- **steps per attempt**: {steps_line(rows)}", ""]
    if not s.complete:
        out += ["**Incomplete**: some attempts failed or did not run; run the same command again to resume.", ""]
    out += [
        "## Tasks",
        "",
        "| task | correct | cost | tokens | steps | answer | expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in task_lines(rows):
        out.append(
            f"| {_cell(t.id, 40)} | {t.correct}/{t.attempts} | ${t.cost_usd:.4f} | {t.tokens:,} | {t.steps} "
            f"| {_cell(t.answer)} | {_cell(t.expected)} |"
        )
    failed = [r for r in rows if r.failed or r.status == "not_run"]
    if failed:
        out += ["", "## Attempts that did not end", ""]
        for r in failed:
            out.append(f"- {r.id} #{r.attempt} ({r.status}): run {r.run_id}: {_cell(r.error or '', 160)}")
    return "\n".join(out) + "\n"


def render_html(s: Summary, rows: Sequence[AttemptRow]) -> str:
    from agentkit.eval._summary_charts import charts

    e = html.escape
    facts = "".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in headline(s))
    facts += f"<tr><th>steps per attempt</th><td>{e(steps_line(rows))}</td></tr>"
    warn = (
        ""
        if s.complete
        else "<p class=warn>Incomplete: some attempts failed or did not run; run the same command again to resume.</p>"
    )
    figures = "".join(f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>" for caption, svg in charts(rows))
    body = "".join(
        f"<tr><td>{e(t.id)}</td><td>{t.correct}/{t.attempts}</td><td>${t.cost_usd:.4f}</td><td>{t.tokens:,}</td>"
        f"<td>{t.steps}</td><td>{e(_cell(t.answer, 200))}</td><td>{e(_cell(t.expected, 200))}</td></tr>"
        for t in task_lines(rows)
    )
    title = f"Eval: {s.suite} ({s.content_hash[:8]})"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title><style>{_CSS}</style>"
        f"</head><body><h1>{e(title)}</h1><table class=facts>{facts}</table>{warn}"
        f"<div class=charts>{figures}</div><h2>Tasks</h2><table><thead><tr><th>task</th><th>correct</th>"
        f"<th>cost</th><th>tokens</th><th>steps</th><th>answer</th><th>expected</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;"
    "vertical-align:top}.facts th{background:#f4f4f4}.warn{color:#a40}.charts{display:flex;flex-wrap:wrap;gap:1em}"
    "figure{margin:0}figcaption{text-align:center;font-size:.9em;color:#555}svg{max-width:100%;height:auto}"
)


def write_summary(out_dir: Path, summary: Summary, rows: Sequence[AttemptRow]) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.html`` into ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page = out_dir / "summary.md", out_dir / "summary.html"
    md.write_text(render_markdown(summary, rows), encoding="utf-8")
    page.write_text(render_html(summary, rows), encoding="utf-8")
    return md, page
