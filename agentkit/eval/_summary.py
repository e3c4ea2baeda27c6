"""``summary.md`` and ``summary.html`` of an eval, from its rows (no network; the HTML's
charts are drawn here, as inline SVG, by :mod:`agentkit.eval._summary_charts`). The page is
``templates/summary.html``."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentkit.eval.results import AttemptRow, Summary, task_lines
from agentkit.report._html import environment

if TYPE_CHECKING:
    import jinja2


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


def _clip(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str, limit: int = 80) -> str:
    return _clip(text, limit).replace("|", "\\|")


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


@functools.cache
def _templates() -> jinja2.Environment:
    return environment("agentkit.eval", filters={"clip": _clip, "n": "{:,}".format})


def render_html(s: Summary, rows: Sequence[AttemptRow]) -> str:
    from markupsafe import Markup

    from agentkit.eval._summary_charts import charts

    # Markup (the page prints them as is): SVG that matplotlib drew here from the rows' numbers
    # under fixed axis labels; matplotlib's SVG writer escapes any text it draws, and the
    # captions stay plain strings (the template escapes them).
    drawn = [(caption, Markup(svg)) for caption, svg in charts(rows)]
    facts = [*headline(s), ("steps per attempt", steps_line(rows))]
    page = _templates().get_template("summary.html")
    return page.render(summary=s, facts=facts, charts=drawn, tasks=task_lines(rows))


def write_summary(out_dir: Path, summary: Summary, rows: Sequence[AttemptRow]) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.html`` into ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page = out_dir / "summary.md", out_dir / "summary.html"
    md.write_text(render_markdown(summary, rows), encoding="utf-8")
    page.write_text(render_html(summary, rows), encoding="utf-8")
    return md, page
