"""A fork's lineage in ``agentkit view``: a fork's page says where it comes from and marks the
steps it shares, a run's page lists its forks, and ``--beside-parent`` puts a fork beside the
run it was forked from (the shared steps once, then both runs' own steps in two columns), for
a fork and for a fork of a fork. Real runs (the loop against the strict fake provider over
loopback, real SQLite); the HTML read with a parser; the pages loaded in headless Chromium."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentkit.cli import app
from agentkit.store import open_store
from agentkit.view import NotAFork, gather, gather_side_by_side, render_page, render_side_by_side

from .browser import CHROMIUM, Chromium
from .conftest import BuiltForks
from .runs import HOSTILE

runner = CliRunner()
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass
class Step:
    id: str
    classes: list[str]
    within: list[str]
    """The ids of the elements around it, innermost first."""
    summary: str = ""


@dataclass
class Page(HTMLParser):
    """The steps of a page (with the ids of the elements around each) and its elements' text by id."""

    steps: list[Step] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)
    _stack: list[tuple[str, str]] = field(default_factory=list)
    _summary: Step | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for _, ident in self._stack:  # elements apart in the text, as a browser shows them
            if ident:
                self.text[ident] += " "
        if tag in VOID:
            return
        a = dict(attrs)
        ident, classes = a.get("id") or "", (a.get("class") or "").split()
        if tag == "details" and "step" in classes:
            self.steps.append(Step(ident, classes, [i for _, i in reversed(self._stack) if i]))
        if tag == "summary" and self._stack and self.steps and self._stack[-1] == ("details", self.steps[-1].id):
            self._summary = self.steps[-1]
        self._stack.append((tag, ident))
        if ident:
            self.text.setdefault(ident, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "summary":
            self._summary = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for _, ident in self._stack:
            if ident:
                self.text[ident] += data
        if self._summary is not None:
            self._summary.summary += data

    def steps_in(self, container: str) -> list[str]:
        return [s.id for s in self.steps if container in s.within]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def fork_page(built: BuiltForks, run_id: str) -> str:
    async def go() -> str:
        store = open_store(built.store, readonly=True)
        try:
            return render_page(await gather(store, run_id))
        finally:
            await store.aclose()

    return anyio.run(go)


def side_page(built: BuiltForks, run_id: str) -> str:
    async def go() -> str:
        store = open_store(built.store, readonly=True)
        try:
            return render_side_by_side(await gather_side_by_side(store, run_id))
        finally:
            await store.aclose()

    return anyio.run(go)


def test_a_forks_page_says_where_it_comes_from_and_marks_the_shared_steps(forks_built: BuiltForks) -> None:
    runs = forks_built.runs
    html = fork_page(forks_built, runs.fork)
    page = parse(html)
    lineage = " ".join(page.text["lineage"].split())
    assert lineage.startswith(f"Forked from {runs.parent} at step 2 (model-a, finished, 6 steps)")
    assert f"agentkit view {runs.parent};" in lineage and f"agentkit view {runs.fork} --beside-parent" in lineage
    assert [s.id for s in page.steps] == [f"r0-s{k}" for k in range(1, 7)]
    shared = [s.id for s in page.steps if "shared" in s.classes]
    assert shared == ["r0-s1", "r0-s2"]
    for s in page.steps[:2]:
        assert f"shared · {runs.parent}" in s.summary
    assert all("shared" not in s.summary for s in page.steps[2:])
    # the fork point sits between the shared steps and the fork's own
    assert html.index('id="r0-s2"') < html.index('id="r0-fork"') < html.index('id="r0-s3"')
    assert "model-a thinks about step 2" in page.text["r0-s2"] and "model-b thinks about step 3" in page.text["r0-s3"]
    assert "answer by model-b" in page.text["answer"]
    # its own fork is listed; the original run is not (it is the parent)
    assert runs.grandchild in page.text["forks"] and runs.parent not in page.text["forks"]


def test_a_fork_of_a_fork_marks_each_shared_step_with_the_run_that_holds_it(forks_built: BuiltForks) -> None:
    runs = forks_built.runs
    page = parse(fork_page(forks_built, runs.grandchild))
    assert " ".join(page.text["lineage"].split()).startswith(f"Forked from {runs.fork} at step 4 (model-b,")
    origins = [runs.parent, runs.parent, runs.fork, runs.fork, None, None]
    for step, origin in zip(page.steps, origins, strict=True):
        assert ("shared" in step.classes) == (origin is not None)
        assert (f"shared · {origin}" in step.summary) if origin else ("shared" not in step.summary)
    assert "forks" not in page.text  # nothing was forked from it


def test_a_parents_page_lists_its_forks_and_shares_nothing(forks_built: BuiltForks) -> None:
    runs = forks_built.runs
    page = parse(fork_page(forks_built, runs.parent))
    assert "lineage" not in page.text and not any("shared" in s.classes for s in page.steps)
    forks = " ".join(page.text["forks"].split())
    assert f"{runs.fork} 2 finished model-b 6" in forks
    assert runs.grandchild not in forks  # a fork of the fork is the fork's, listed on its page


def test_beside_parent_shows_the_shared_steps_once_and_both_runs_from_the_fork_point(
    forks_built: BuiltForks,
) -> None:
    runs = forks_built.runs
    page = parse(side_page(forks_built, runs.fork))
    assert page.steps_in("shared") == ["r0-s1", "r0-s2"]
    assert all("shared" in s.classes for s in page.steps if "shared" in s.within)
    # the parent (r1) on the left, the fork (r0) on the right: steps 3 to 6 of each
    assert page.steps_in("beside") == [f"r1-s{k}" for k in range(3, 7)] + [f"r0-s{k}" for k in range(3, 7)]
    assert page.steps_in("r1") == [f"r1-s{k}" for k in range(3, 7)]
    assert page.steps_in("r0") == [f"r0-s{k}" for k in range(3, 7)]
    assert "model-a thinks about step 3" in page.text["r1-s3"] and "model-b thinks about step 3" in page.text["r0-s3"]
    assert "answer by model-a" in page.text["r1"] and "answer by model-b" in page.text["r0"]
    settings = " ".join(page.text["settings"].split())
    assert "model model-a model-b" in settings and f"Be brief. {HOSTILE}" in page.text["settings"]
    assert "step 1" not in page.text["beside"] and "step 2 " not in page.text["beside"]


def test_beside_parent_for_a_fork_of_a_fork_uses_its_immediate_parent(forks_built: BuiltForks) -> None:
    runs = forks_built.runs
    page = parse(side_page(forks_built, runs.grandchild))
    assert runs.fork in page.text["lineage"].split("forked from")[1].split()[0]
    assert page.steps_in("shared") == [f"r0-s{k}" for k in range(1, 5)]
    assert page.steps_in("r1") == ["r1-s5", "r1-s6"] and page.steps_in("r0") == ["r0-s5", "r0-s6"]
    assert "answer by model-b" in page.text["r1"] and "answer by model-c" in page.text["r0"]
    assert " ".join(page.text["settings"].split()).count("model model-b model-c") == 1


def test_the_cli_writes_the_side_by_side_page_and_refuses_a_run_that_is_no_fork(
    forks_built: BuiltForks, tmp_path: Path
) -> None:
    runs, store = forks_built.runs, str(forks_built.store)
    out = tmp_path / "side.html"
    result = runner.invoke(app, ["view", runs.fork[:7], "--beside-parent", "-o", str(out), "--store", store])
    assert result.exit_code == 0, result.output
    assert parse(out.read_text()).steps_in("r1") == [f"r1-s{k}" for k in range(3, 7)]
    refused = tmp_path / "x.html"
    result = runner.invoke(app, ["view", runs.parent, "--beside-parent", "-o", str(refused), "--store", store])
    assert result.exit_code == 2 and not refused.exists()
    assert result.output.strip() == (
        f"error: run {runs.parent} is not a fork: --beside-parent shows a fork (agentkit fork) beside the run it "
        "was forked from; `agentkit runs` lists forks with their lineage"
    )
    result = runner.invoke(app, ["view", runs.fork, "--beside-parent", "--watch", "-o", str(out), "--store", store])
    assert result.exit_code == 2 and "--watch" in result.output and "Traceback" not in result.output
    assert "--beside-parent" in runner.invoke(app, ["view", "--help"]).output


def test_a_fork_whose_parent_is_gone_is_still_shown(forks_built: BuiltForks, tmp_path: Path) -> None:
    """The parent's row removed: the fork's page says so; --beside-parent is an input error."""
    import shutil
    import sqlite3

    db = tmp_path / "s.db"
    shutil.copy(forks_built.store, db)
    runs = forks_built.runs
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM runs WHERE id = ?", (runs.parent,))
    page = parse(fork_page(BuiltForks(db, runs), runs.fork))
    assert "(that run is not in this store)" in page.text["lineage"]

    async def beside() -> None:
        store = open_store(db, readonly=True)
        try:
            await gather_side_by_side(store, runs.fork)
        finally:
            await store.aclose()

    with pytest.raises(NotAFork, match=f"forked from run {runs.parent}, which is not in this store"):
        anyio.run(beside)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH (CI: apt-get install -y chromium)")
def test_the_pages_in_chromium(forks_built: BuiltForks, tmp_path: Path) -> None:
    runs = forks_built.runs
    fork_html, side_html = tmp_path / "fork.html", tmp_path / "side.html"
    fork_html.write_text(fork_page(forks_built, runs.fork), encoding="utf-8")
    side_html.write_text(side_page(forks_built, runs.fork), encoding="utf-8")
    with Chromium() as browser:
        loaded = browser.load(fork_html)
        assert loaded.errors == [] and [u for u in loaded.requests if not u.startswith("data:")] == [fork_html.as_uri()]
        assert browser.eval("Array.from(document.querySelectorAll('details.step.shared')).map(s => s.id)") == [
            "r0-s1",
            "r0-s2",
        ]
        loaded = browser.load(side_html)
        assert loaded.errors == [] and [u for u in loaded.requests if not u.startswith("data:")] == [side_html.as_uri()]
        # the two columns side by side: same top, the parent left of the fork
        boxes = browser.eval(
            "['r1', 'r0'].map(id => { const r = document.getElementById(id).getBoundingClientRect();"
            " return [r.top, r.left, r.width]; })"
        )
        (top1, left1, width1), (top0, left0, width0) = boxes
        assert top1 == top0 and left1 + width1 <= left0 and width0 > 300
        # the filter works across the shared steps and both columns
        browser.type_into("#q", "thinks about step 4")
        shown = browser.eval(
            "Array.from(document.querySelectorAll('details.step')).filter(s => !s.hidden).map(s => s.id)"
        )
        assert shown == ["r1-s4", "r0-s4"]
        # the fork's instructions (hostile text) are shown and never run
        browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert browser.eval("typeof window.__pwned") == "undefined"
        assert browser.eval("document.querySelectorAll('script').length") == 1
        assert HOSTILE in browser.eval("document.getElementById('settings').textContent")
        assert browser.loaded().errors == []
