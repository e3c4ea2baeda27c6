"""Static SVG charts, drawn with matplotlib when the page is generated and inlined in it.

No script draws them and nothing is fetched: the page stays one offline file. Text stays text
(``svg.fonttype: none``, a fraction of the size of glyph outlines), matplotlib's metadata and
XML prologue are stripped, and every id in a chart gets the chart's prefix, so several charts
in one page never share an id. Only the page's own labels are drawn (no model text), with
math text off.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.view.model import ContextMark

PALETTE = ("#3b6ea8", "#d1603d", "#4c9a5b", "#8e5ea2", "#c4a000", "#2a9d9d", "#b5446e", "#6b6b6b")
MARK_STYLE: dict[str, dict[str, Any]] = {
    "prune": {"color": "#d1603d", "linestyle": (0, (4, 3)), "label": "prune (old results hidden)"},
    "summary": {"color": "#8e5ea2", "linestyle": "-", "label": "summary (oldest steps condensed)"},
    "window": {"color": "#b42318", "linestyle": ":", "label": "window learned from the server"},
}
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "path.simplify": True,
    "text.parse_math": False,
}


def _rc(chart_id: str) -> dict[Any, Any]:
    return {**_RC, "svg.hashsalt": chart_id}


_WIDTH_IN, _HEIGHT_IN = 10.0, 2.6
OFF_SCALE = 5
"""The window is drawn as a line only when the largest request reaches 1/OFF_SCALE of it."""


@dataclass(frozen=True)
class ContextSeries:
    """Prompt tokens of each request of one run, and the window each was sent against."""

    label: str
    steps: Sequence[int]
    tokens: Sequence[int]
    windows: Sequence[int]
    marks: Sequence[ContextMark] = field(default_factory=tuple)


def context_chart(series: Sequence[ContextSeries], *, chart_id: str) -> str:
    """Context tokens per request against the window, with prune and summary points marked:
    as vertical lines for one run, as symbols on each line when several runs share the chart."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    with rc_context(_rc(chart_id)):
        fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN))
        ax = fig.subplots()
        single = len(series) == 1
        peak = max((t for s in series for t in s.tokens), default=0)
        window = max((w for s in series for w in s.windows), default=0)
        far = window > OFF_SCALE * max(peak, 1)  # a line at the top would flatten the requests to nothing
        top = max(peak, 1) if far else max(peak, window, 1)
        for i, s in enumerate(series):
            color = PALETTE[i % len(PALETTE)]
            ax.plot(s.steps, s.tokens, color=color, linewidth=1.4, label="context tokens" if single else s.label)
            if not single:
                _mark_points(ax, s, color)
        if far:
            ax.plot([], [], color="#1f2328", linewidth=1.0, label=f"window {window:,} tokens (far above)")
        elif window:
            s = next(s for s in series if any(s.windows))
            w_steps = [x for x, w in zip(s.steps, s.windows, strict=True) if w]
            ax.step(w_steps, [w for w in s.windows if w], where="post", color="#1f2328", linewidth=1.0, label="window")
        if single:
            _mark_lines(ax, series[0].marks)
        ax.set_ylim(0, top * 1.08)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tokens(v)))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("prompt tokens")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=5 if single else 8)
        fig.subplots_adjust(left=0.065, right=0.99, bottom=0.17, top=0.87)  # no tight_layout: it draws twice
        return _svg(fig, chart_id, "Context tokens per request against the window, with prunes and summaries")


def cost_chart(
    x: Sequence[int], cost: Sequence[float], cached: Sequence[float | None], *, chart_id: str, xlabel: str = "step"
) -> str:
    """Cost per step (bars) and the share of the prompt the provider served from its cache (line)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

    with rc_context(_rc(chart_id)):
        fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN))
        ax = fig.subplots()
        if len(x) > 40 and list(x) == list(range(x[0], x[0] + len(x))):  # one path, not a bar each
            ax.stairs(cost, [v - 0.5 for v in x] + [x[-1] + 0.5], fill=True, color="#3b6ea8", label="cost (USD)")
        else:
            ax.bar(x, cost, width=0.8, color="#3b6ea8", linewidth=0, label="cost (USD)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _dollars(v)))
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max([*cost, 1e-6]) * 1.15)
        share = ax.twinx()
        share.spines["right"].set_visible(True)
        points = [(xi, c * 100) for xi, c in zip(x, cached, strict=True) if c is not None]
        if points:
            share.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                color="#d1603d",
                linewidth=1.1,
                marker="." if len(points) <= 60 else None,
                markersize=3,
                label="cached share of prompt",
            )
        share.set_ylim(0, 105)
        share.yaxis.set_major_formatter(PercentFormatter())
        share.set_ylabel("cached")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        handles = ax.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
        ax.set_axisbelow(True)
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
        fig.subplots_adjust(left=0.075, right=0.935, bottom=0.17, top=0.87)
        return _svg(fig, chart_id, f"Cost and cached share of the prompt per {xlabel}")


def _mark_lines(ax: Any, marks: Sequence[ContextMark]) -> None:
    labelled: set[str] = set()
    for mark in marks:
        style = MARK_STYLE[mark.kind]
        label = None if mark.kind in labelled else str(style["label"])
        labelled.add(mark.kind)
        ax.axvline(
            mark.before_step - 0.5, color=style["color"], linestyle=style["linestyle"], linewidth=1.0, label=label
        )


def _mark_points(ax: Any, s: ContextSeries, color: str) -> None:
    by_step = dict(zip(s.steps, s.tokens, strict=True))
    xs = [m.before_step - 0.5 for m in s.marks if m.kind != "window"]
    ys = [by_step.get(m.before_step - 1, by_step.get(m.before_step, 0)) for m in s.marks if m.kind != "window"]
    if xs:
        ax.plot(xs, ys, linestyle="none", marker="v", markersize=5, color=color)


def _dollars(value: float) -> str:
    return "$" + (f"{value:.6f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.2f}")


def _tokens(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{value:.0f}"


_PROLOGUE = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->|<metadata>.*?</metadata>", re.DOTALL)
_ROOT = re.compile(r"<svg\b[^>]*>")
_ID = re.compile(r'\bid="([^"]+)"')
_PATH = re.compile(r'\bd="([^"]*)"')
_DECIMALS = re.compile(r"(\d\.\d)\d+")
_REF = re.compile(r'(xlink:href="#|href="#|url\(#)([^")]+)')


def _svg(fig: Any, chart_id: str, label: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _PROLOGUE.sub("", buf.getvalue()).strip()
    viewbox = re.search(r'viewBox="([^"]+)"', text)
    root = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" class="chart" '
        f'id="{chart_id}" role="img" aria-label="{label}" viewBox="{viewbox.group(1) if viewbox else ""}">'
    )
    text = _ROOT.sub(lambda _: root, text, count=1)
    text = _ID.sub(lambda m: m.group(0) if m.group(1) == chart_id else f'id="{chart_id}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{chart_id}-{m.group(2)}", text)
    text = _PATH.sub(lambda m: 'd="' + _DECIMALS.sub(r"\1", " ".join(m.group(1).split())) + '"', text)
    return re.sub(r">\s+<", "><", text)


__all__ = ["ContextSeries", "context_chart", "cost_chart"]
