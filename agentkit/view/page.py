"""The trace page: one self-contained HTML file (inline CSS, inline SVG charts, one inline
script allowed by its hash, figures as ``data:`` URIs). It loads nothing from anywhere: its
Content-Security-Policy forbids every fetch, and every stored text is escaped.

The markup is ``templates/trace.html`` (with the macros of ``_run.html``, the stylesheet
``trace.css`` and the script ``trace.js``); this module gathers the data it shows."""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentkit.report._html import environment
from agentkit.report.render import safe_url
from agentkit.view._parts import FILTERS, MAX_TEXT, Links, diff_lines, share, timeline_entries
from agentkit.view.charts import ContextSeries, context_chart, cost_chart
from agentkit.view.model import RunView, SideBySide
from agentkit.vocabulary import Usage

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup


@functools.cache
def _templates() -> jinja2.Environment:
    env = environment("agentkit.view", filters={**FILTERS, "safe_url": safe_url})
    env.globals.update(MAX_TEXT=MAX_TEXT, share=share, timeline_entries=timeline_entries, diff_lines=diff_lines)
    return env


def script_hash() -> str:
    """The CSP source that allows exactly the page's script: the hash of ``templates/trace.js``
    as rendered, which is what ``trace.html`` includes."""
    script = _templates().get_template("trace.js").render()
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def render_page(view: RunView, *, refresh_s: int | None = None, generated_at: float | None = None) -> str:
    """The page for ``view``. ``refresh_s``: while the run is in progress, the page reloads
    itself every that many seconds (for ``agentkit view --watch``, which rewrites the file)."""
    return (
        _templates()
        .get_template("trace.html")
        .render(
            view=view,
            links=Links(view),
            generated=time.time() if generated_at is None else generated_at,
            refresh_s=int(refresh_s) if refresh_s and view.in_progress else None,
            script_hash=script_hash(),
            children_title=_children_title(view),
            charts=_charts(view),
            phases=_phases(view),
        )
    )


def render_side_by_side(pair: SideBySide, *, generated_at: float | None = None) -> str:
    """One page with a fork and the run it was forked from: the settings that differ, the
    steps they share once, then each run's own steps side by side from the fork point on."""
    return (
        _templates()
        .get_template("side.html")
        .render(
            view=pair.fork,
            parent=pair.parent,
            n=pair.fork_step,
            settings=pair.settings,
            links=Links(pair.fork, pair.parent),
            generated=time.time() if generated_at is None else generated_at,
            refresh_s=None,
            script_hash=script_hash(),
        )
    )


@dataclass(frozen=True)
class _ContextLine:
    """One run's line under the context chart."""

    number: int | None
    """The run's number on the chart (None: the page's own run)."""
    label: str
    peak: int
    window: int
    prunes: int
    summaries: int
    windows_learned: int


@dataclass(frozen=True)
class _Charts:
    context: Markup
    cost: Markup
    lines: list[_ContextLine]


def _charts(view: RunView) -> _Charts | None:
    """The context and cost charts: of the run's own steps, else of its children side by side."""
    from markupsafe import Markup

    runs = [view] if view.steps else [c for c in view.children if c.steps]
    if not runs:
        return None
    series = [
        ContextSeries(
            label=f"#{i}" if len(runs) > 1 else "context",
            steps=[s.step for s in run.steps],
            tokens=[s.context_tokens for s in run.steps],
            windows=[s.window for s in run.steps],
            marks=run.context_marks,
        )
        for i, run in enumerate(runs, 1)
    ]
    base = f"chart-{view.index}"
    if view.steps:
        steps = view.steps
        x, spent, cached = [s.step for s in steps], [s.cost_usd for s in steps], [s.cached_share for s in steps]
        cost = cost_chart(x, spent, cached, chart_id=f"{base}-cost")
    else:
        cost = cost_chart(
            list(range(1, len(runs) + 1)),
            [r.cost_usd for r in runs],
            [r.usage.cached_tokens / r.usage.prompt_tokens if r.usage.prompt_tokens else None for r in runs],
            chart_id=f"{base}-cost",
            xlabel="child run",
        )
    lines = [
        _ContextLine(
            number=None if run is view else i,
            label=run.label,
            peak=run.context_peak,
            window=run.steps[-1].window if run.steps else run.declared_window,
            prunes=sum(1 for m in run.context_marks if m.kind == "prune"),
            summaries=sum(1 for m in run.context_marks if m.kind == "summary"),
            windows_learned=sum(1 for m in run.context_marks if m.kind == "window"),
        )
        for i, run in enumerate(runs, 1)
    ]
    # Markup (the page prints them as is): SVG that matplotlib drew here from numbers and the
    # page's own labels (no stored text; math text off; its SVG writer escapes text anyway),
    # with ids and the root element charts.py built from indexes and fixed words.
    return _Charts(Markup(context_chart(series, chart_id=f"{base}-context")), Markup(cost), lines)


def _phases(view: RunView) -> list[tuple[str, Usage, float]]:
    """Model calls charged to the run outside its steps, summed by phase: (phase, usage, cost)."""
    phases: dict[str, tuple[Usage, float]] = {}
    for p in view.phases:
        usage, cost = phases.get(p.phase, (Usage(), 0.0))
        phases[p.phase] = (usage + p.usage, cost + p.cost_usd)
    return [(name, usage, cost) for name, (usage, cost) in phases.items()]


def _children_title(view: RunView) -> str:
    roles = {c.role for c in view.children}
    if roles == {"trajectory"}:
        return "Trajectories"
    if roles == {"delegate"}:
        return "Sub-agents"
    return "Child runs"


__all__ = ["render_page", "render_side_by_side", "script_hash"]
