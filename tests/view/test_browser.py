"""The pages in real headless Chromium: no console error, nothing fetched, the charts' SVG,
the search box filtering steps, a screenshot that is not blank, and hostile text inert."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from PIL import Image, ImageStat

from agentkit.store import open_store
from agentkit.view import gather, render_page

from .browser import CHROMIUM, Chromium
from .conftest import Built
from .runs import HOSTILE

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH (CI: apt-get install -y chromium)")
SHOTS = Path("/tmp")


def page_of(built: Built, out: Path, *, reloading_every: int | None = None) -> Path:
    async def go() -> str:
        store = open_store(built.store, readonly=True)
        try:
            view = await gather(store, built.run_id)
        finally:
            await store.aclose()
        if reloading_every:
            view.in_progress = True  # as agentkit view --watch renders a run still going
        return render_page(view, refresh_s=reloading_every)

    out.write_text(anyio.run(go), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as b:
        yield b


def visible_steps(browser: Chromium) -> list[str]:
    ids: list[str] = browser.eval(
        "Array.from(document.querySelectorAll('details.step')).filter(s => !s.hidden).map(s => s.id)"
    )
    return ids


def check_page(browser: Chromium, html: Path, shot: Path, *, charts: int) -> None:
    loaded = browser.load(html)
    assert loaded.errors == []
    assert [u for u in loaded.requests if not u.startswith("data:")] == [html.as_uri()]  # nothing fetched
    assert browser.eval("document.querySelectorAll('svg.chart').length") == charts
    assert browser.eval("document.querySelectorAll('svg.chart path').length") > 10 * charts
    data = browser.screenshot(shot, full_page=True)
    image = Image.open(io.BytesIO(data)).convert("L")
    assert image.size[0] == 1280 and image.size[1] > 900
    assert max(ImageStat.Stat(image).stddev) > 20, "the screenshot is (nearly) blank"


def test_the_demo_run(browser: Chromium, demo_built: Built, tmp_path: Path) -> None:
    html = page_of(demo_built, tmp_path / "demo.html")
    check_page(browser, html, SHOTS / "view_demo.png", charts=2)
    everything = visible_steps(browser)
    assert len(everything) == 6
    browser.type_into("#q", "update_plan")
    assert visible_steps(browser) == ["r0-s4"]
    assert browser.eval("document.getElementById('q-count').textContent") == "1 of 6 steps match"
    assert browser.eval("document.querySelectorAll('.timeline > .mark:not([hidden])').length") == 0
    # a claim's link opens the step that found its source
    browser.eval(
        "document.getElementById('q').value = ''; document.getElementById('q').dispatchEvent(new Event('input'))"
    )
    assert visible_steps(browser) == everything
    browser.eval("document.querySelector('#claims a[href^=\"#r0-s\"]').click()")
    target = browser.eval("location.hash.slice(1)")
    assert browser.eval(f"document.getElementById('{target}').open") is True
    assert browser.eval("document.querySelectorAll('.fig img').length") == 1  # the Python figure
    assert browser.loaded().errors == []


def test_a_300_step_run(browser: Chromium, long_built: Built, tmp_path: Path) -> None:
    html = page_of(long_built, tmp_path / "long.html")
    assert html.stat().st_size < 1_500_000
    check_page(browser, html, SHOTS / "view_300.png", charts=2)
    assert len(visible_steps(browser)) == 301
    browser.type_into("#q", "add 137 next")
    assert visible_steps(browser) == ["r0-s137"]
    prunes = browser.eval("document.querySelectorAll('.timeline > .mark.summary, .timeline > .mark.prune').length")
    assert prunes > 10
    # the chart marks each prune and summary with a line: as many as the timeline shows
    lines = browser.eval("document.querySelectorAll('svg.chart g[id*=\"line2d\"]').length")
    assert lines >= prunes


def test_a_heavy_run(browser: Chromium, heavy_built: Built, tmp_path: Path) -> None:
    html = page_of(heavy_built, tmp_path / "heavy.html")
    check_page(browser, html, SHOTS / "view_heavy.png", charts=2)
    cards = browser.eval("Array.from(document.querySelectorAll('#children > .children > .card')).map(c => c.id)")
    assert cards == ["r1", "r3", "r4"]  # the sub-agent (r2) is nested in its trajectory's card
    tops = browser.eval(
        "Array.from(document.querySelectorAll('#children > .children > .card')).map(c => c.getBoundingClientRect().top)"
    )
    assert len(set(tops)) == 1, "the trajectories are not side by side"
    assert "Paris. Most trajectories agreed" in browser.eval("document.getElementById('children').textContent")
    browser.type_into("#q", "Hand the check to a sub-agent")
    assert visible_steps(browser) == ["r1-s2"]
    assert browser.eval("document.getElementById('r1-s2').closest('details.steps').open") is True
    browser.eval("document.querySelector('#r1-s2 a[href=\"#r2\"]').click()")
    assert browser.eval("document.getElementById('r2').getBoundingClientRect().height") > 0


def test_hostile_text_is_shown_and_never_runs(browser: Chromium, hostile_built: Built, tmp_path: Path) -> None:
    html = page_of(hostile_built, tmp_path / "hostile.html")
    text = html.read_text()
    assert text.count("<script>") == 1 and "<img src=x" not in text and 'href="javascript:' not in text
    loaded = browser.load(html)
    assert loaded.errors == [] and [u for u in loaded.requests if not u.startswith("data:")] == [html.as_uri()]
    browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
    browser.eval(
        "document.querySelectorAll('a').forEach(a => { if (!a.getAttribute('href').startsWith('#')) a.click() })"
    )
    assert browser.eval("typeof window.__pwned") == "undefined"
    assert browser.eval("document.querySelectorAll('img:not([src^=\"data:\"]), iframe, object, embed').length") == 0
    assert browser.eval("document.querySelectorAll('[onerror], [onload], [onclick]').length") == 0
    assert browser.eval("document.querySelectorAll('script').length") == 1
    assert browser.eval("getComputedStyle(document.body).display") == "block"
    body = browser.eval("document.body.textContent")
    assert body.count(HOSTILE) >= 4  # task, plan, reasoning, tool result... all shown verbatim as text
    assert browser.eval("document.querySelector('#sources a')") is None  # a javascript: URL is no link
    assert browser.loaded().errors == []


def test_a_page_that_reloads_itself_keeps_the_filter_and_the_open_steps(
    browser: Chromium, demo_built: Built, tmp_path: Path
) -> None:
    html = page_of(demo_built, tmp_path / "live.html", reloading_every=2)
    assert browser.load(html).errors == []
    browser.type_into("#q", "update_plan")
    browser.eval("document.getElementById('r0-s4').open = true")
    loaded = browser.reloaded()  # the page's meta refresh
    assert loaded.errors == []
    assert browser.eval("document.getElementById('q').value") == "update_plan"
    assert visible_steps(browser) == ["r0-s4"]
    assert browser.eval("document.getElementById('r0-s4').open") is True
    assert "In progress." in browser.eval("document.body.textContent")
