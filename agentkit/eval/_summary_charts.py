"""The summary's charts, drawn with matplotlib's object API (no pyplot, no global backend)
into SVG text that is inlined in ``summary.html``: nothing is fetched when the page opens."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentkit.eval.results import AttemptRow, task_lines

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

_SIZE = (5.0, 3.2)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # without the XML prolog and DOCTYPE (inline in HTML)


def _figure() -> tuple[Figure, Axes]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    mpl.rcParams["svg.fonttype"] = "none"  # text stays text (smaller, selectable)
    mpl.rcParams["svg.hashsalt"] = "agentkit"  # stable ids: the same rows draw the same SVG
    fig = Figure(figsize=_SIZE)
    return fig, fig.subplots()


def _counting(axis: Axis) -> None:
    """Ticks at whole numbers only: steps, attempts and task numbers have no halves."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _cost_range(values: Sequence[float]) -> tuple[float, float]:
    """A cost axis from 0 (no cost is negative) to a little above the largest cost; when every
    cost is 0 (a free local model, replayed attempts), 0 to 1 rather than matplotlib's -0.04 to
    0.04 around a single value."""
    top = max(values, default=0.0)
    return 0.0, (top * 1.08 if top > 0 else 1.0)


def steps_histogram(rows: Sequence[AttemptRow]) -> str:
    steps = [r.steps for r in rows if r.status != "not_run"]
    fig, ax = _figure()
    top = max(steps, default=0)
    bins = list(range(0, top + 2)) if top <= 40 else 40
    ax.hist(steps, bins=bins, color="#4a7bb7", edgecolor="white")
    ax.set_xlabel("steps per attempt")
    ax.set_ylabel("attempts")
    _counting(ax.xaxis)
    _counting(ax.yaxis)
    return _svg(fig)


def accuracy_vs_cost(rows: Sequence[AttemptRow]) -> str:
    lines = task_lines(rows)
    fig, ax = _figure()
    xs = [t.cost_usd / t.attempts for t in lines]
    ys = [t.correct / t.attempts for t in lines]
    ax.scatter(xs, ys, color="#c4553a", alpha=0.7, clip_on=False)  # a point at cost 0 is drawn whole
    ax.set_xlabel("cost per attempt (USD)")
    ax.set_ylabel("share of attempts correct")
    ax.set_xlim(*_cost_range(xs))
    ax.set_ylim(-0.05, 1.05)
    return _svg(fig)


def cost_per_task(rows: Sequence[AttemptRow]) -> str:
    lines = task_lines(rows)
    fig, ax = _figure()
    colors = ["#4a9b5a" if t.correct == t.attempts else "#c4553a" if t.correct == 0 else "#d9a13b" for t in lines]
    costs = [t.cost_usd for t in lines]
    ax.bar(range(1, len(lines) + 1), costs, color=colors)
    ax.set_xlabel("task (suite order, from 1; green all correct, red none)")
    ax.set_ylabel("cost (USD)")
    ax.set_ylim(*_cost_range(costs))
    _counting(ax.xaxis)
    return _svg(fig)


def charts(rows: Sequence[AttemptRow]) -> list[tuple[str, str]]:
    """(caption, inline SVG) for each chart."""
    drawn = [
        ("Steps per attempt", steps_histogram(rows)),
        ("Accuracy vs cost, one point per task", accuracy_vs_cost(rows)),
        ("Cost per task", cost_per_task(rows)),
    ]
    return [(caption, re.sub(r"\s+$", "", svg)) for caption, svg in drawn]
