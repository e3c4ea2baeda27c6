"""The summary's charts read right when every cost is 0 and counts are small (issue #23, item 6):
no negative cost ticks, whole-number ticks for steps, attempts and tasks. The charts are real
matplotlib SVG; the tests read the tick labels out of it with an XML parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from agentkit.eval._summary_charts import accuracy_vs_cost, charts, cost_per_task, steps_histogram
from agentkit.eval.results import AttemptRow

SVG = "{http://www.w3.org/2000/svg}"


def ticks(svg: str, axis: str) -> list[float]:
    """The tick labels of ``axis`` (``x`` or ``y``) of a chart, as numbers."""
    root = ET.fromstring(svg)
    labels = []
    for group in root.iter(f"{SVG}g"):
        if group.get("id", "").startswith(f"{axis}tick_"):
            labels += ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]
    return [float(label.replace("\u2212", "-")) for label in labels]


def rows(n: int, *, cost: float = 0.0, steps: int = 2) -> list[AttemptRow]:
    return [
        AttemptRow(
            id=f"t{i}",
            run_id=f"r{i}",
            attempt=0,
            status="finished",
            expected="1",
            grade="correct" if i % 2 else "incorrect",
            cost_usd=cost * i,
            steps=steps + i % 2,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 3])
def test_all_zero_costs_draw_no_negative_cost(n: int) -> None:
    free = rows(n)
    for svg, cost_axis in ((accuracy_vs_cost(free), "x"), (cost_per_task(free), "y")):
        values = ticks(svg, cost_axis)
        assert values and min(values) == 0 and max(values) > 0, values  # from 0, and a visible range


@pytest.mark.parametrize("n", [1, 2, 5])
def test_small_counts_have_whole_number_ticks(n: int) -> None:
    few = rows(n, steps=1)
    hist = steps_histogram(few)
    for axis in ("x", "y"):  # steps per attempt, attempts
        values = ticks(hist, axis)
        assert values and all(v == int(v) for v in values), (axis, values)
    tasks = ticks(cost_per_task(few), "x")
    assert tasks and all(v == int(v) and v >= 0 for v in tasks), tasks


def test_costs_keep_their_scale() -> None:
    paid = rows(4, cost=0.02)  # 0, 0.02, 0.04, 0.06 per task
    values = ticks(accuracy_vs_cost(paid), "x")
    assert min(values) == 0 and 0.06 <= max(values) < 0.1, values
    assert len(charts(paid)) == 3
