"""The eval's summary files from rows: an answer with a ``|`` is escaped for the markdown
table only; the HTML page shows it as it is."""

from __future__ import annotations

from agentkit.eval._summary import render_html, render_markdown
from agentkit.eval.results import AttemptRow, summarise


def test_a_pipe_in_an_answer_is_escaped_in_the_markdown_table_only() -> None:
    rows = [
        AttemptRow(
            id="t1", run_id="r1", attempt=1, status="finished", answer="x | y", expected="a|b", grade="correct", steps=2
        )
    ]
    summary = summarise("suite", "0123456789abcdef", 1, 1, rows)
    assert "| t1 | 1/1 |" in render_markdown(summary, rows) and "| x \\| y | a\\|b |" in render_markdown(summary, rows)
    page = render_html(summary, rows)
    assert "<td>x | y</td><td>a|b</td>" in page and "\\|" not in page
