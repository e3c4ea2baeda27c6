"""One way to write HTML (agentkit/report/_html.py): the trace page, the report and the eval
summary are Jinja templates beside their packages, with autoescape on.

- Every template loads and compiles through its package's loader (what a wheel ships).
- Each page, rendered with hostile text in every field the model, a tool, a page or a suite
  supplies, shows that text as text: no element, attribute, link or script comes from it, and
  template syntax inside it is printed, never evaluated. The same checks fail on pages made
  with autoescape off, so they can see a page that forgot to escape.
- In headless Chromium the hostile pages run no script of theirs and fetch nothing.
- The trace page's CSP allows exactly the script the page carries.
- jinja2 is loaded by the first page rendered, not by ``agentkit --help`` or by importing the
  packages that render pages.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agentkit.eval import _summary
from agentkit.eval.results import AttemptRow, summarise
from agentkit.report import render as report_render
from agentkit.report._html import environment
from agentkit.report.models import (
    CitationCheck,
    ClaimCheck,
    FlaggedNumber,
    Reference,
    Report,
    ReportSection,
    Verification,
)
from agentkit.store.events import Aggregated, RunInfo, Source
from agentkit.view import page as view_page
from agentkit.view.model import (
    CallView,
    CitationView,
    ClaimView,
    ContextMark,
    Marker,
    PhaseCost,
    Picture,
    PlanRevision,
    ReportView,
    RunView,
    SourceView,
    StepRef,
    StepView,
)
from agentkit.vocabulary import Usage
from tests.view.browser import CHROMIUM, Chromium

from .helpers import tiny_png

HOSTILE = (
    '</pre></script><script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>">'
    "<svg onload=window.__pwned=3><style>body{display:none}</style>{{ 7*7 }}{% if 1 %}{{ 8*8 }}{% endif %}{# c #}'&"
)
"""Markup and template syntax a model, a tool, a page or a suite might write (under 200
characters and on one line, so no page cuts or folds it)."""
JS_URL = "javascript:window.__pwned=4"
USAGE = Usage(prompt_tokens=12_000, completion_tokens=800, cached_tokens=6000, reasoning_tokens=300, calls=1)
PACKAGES = {
    "agentkit.view": view_page._templates,
    "agentkit.report": report_render._templates,
    "agentkit.eval": _summary._templates,
}


def test_every_template_loads_through_its_package_loader() -> None:
    loaded = {}
    for package, templates in PACKAGES.items():
        env = templates()  # the page's environment: its package's loader, its filters
        names = [n for n in env.list_templates() if not n.endswith((".toml", "LICENSE-simple-evals"))]
        for name in names:
            env.get_template(name)  # compiles: a syntax error in a template fails here
        loaded[package] = sorted(names)
    assert loaded == {
        "agentkit.view": ["_head.html", "_run.html", "side.html", "trace.css", "trace.html", "trace.js"],
        "agentkit.report": ["_marks.html", "report.css", "report.html"],
        "agentkit.eval": ["summary.css", "summary.html"],
    }


def test_the_environment_escapes_and_refuses_undefined_names() -> None:
    import jinja2

    env = environment("agentkit.report")
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ y }}").render()


# -- the pages, with hostile text everywhere -------------------------------------------------


def _step(n: int) -> StepView:
    call = CallView(
        id=HOSTILE,
        name=HOSTILE,
        arguments=HOSTILE,
        parse_error=HOSTILE,
        result=HOSTILE,
        is_error=n == 2,
        sources=["Sbadbadba", HOSTILE],
        child_run="child-run" if n == 1 else HOSTILE,
        effects=[HOSTILE],
        figures=[Picture("image/png", tiny_png())],
    )
    return StepView(
        step=n,
        ts=1_700_000_000.0 + n,
        elapsed_s=2.5 * n,
        reasoning=HOSTILE,
        content=HOSTILE,
        calls=[call, CallView(id="c-running", name=HOSTILE, arguments="{}")],
        usage=USAGE,
        usage_reported=n == 1,
        cost_usd=0.01,
        model=HOSTILE,
        finish_reason=HOSTILE,
        window=256_000,
        notices=[(HOSTILE, HOSTILE)],
    )


def hostile_view() -> RunView:
    ref = StepRef(run_index=0, run_id="root-run", step=1, tool=HOSTILE)
    child_ref = StepRef(run_index=1, run_id="child-run", step=1, tool=HOSTILE)
    child = RunView(
        index=1,
        info=RunInfo(
            id="child-run", task=HOSTILE, label=HOSTILE, stop_reason=HOSTILE, status="finished", answer=HOSTILE
        ),
        in_progress=False,
        task=HOSTILE,
        model=HOSTILE,
        provider=HOSTILE,
        declared_window=0,
        steps=[_step(1)],
        role="trajectory",
        finished=None,
        children_omitted=[RunInfo(id=HOSTILE, task=HOSTILE, label=HOSTILE)],
    )
    return RunView(
        index=0,
        info=RunInfo(
            id="root-run", task=HOSTILE, status="stopped", parent_id=HOSTILE, label=HOSTILE, stop_reason=HOSTILE
        ),
        in_progress=False,
        task=HOSTILE,
        model=HOSTILE,
        provider=HOSTILE,
        declared_window=256_000,
        images=[(HOSTILE, Picture("image/png", tiny_png()))],
        steps=[_step(1), _step(2)],
        plans=[PlanRevision(0, HOSTILE), PlanRevision(1, HOSTILE + "\n" + HOSTILE, explanation=HOSTILE)],
        context_marks=[
            ContextMark(2, "prune", tokens_before=20_000, tokens_after=9000, hide_before=1, hard=True),
            ContextMark(2, "summary", drop_before=1, summary=HOSTILE, summary_usage=USAGE, summary_cost_usd=0.002),
            ContextMark(3, "window", window=128_000),
        ],
        markers=[Marker(2, "error", HOSTILE, HOSTILE), Marker(3, "notice", HOSTILE)],
        phases=[PhaseCost(HOSTILE, USAGE, 0.003)],
        usage=USAGE,
        cost_usd=0.02,
        tool_calls=4,
        aggregation=Aggregated(
            method=HOSTILE, answer=HOSTILE, chosen="child-run", failed=[HOSTILE], votes={HOSTILE: 2, "x": 1}
        ),
        children=[child],
        children_total=2,
        children_omitted=[RunInfo(id=HOSTILE, task=HOSTILE, label=HOSTILE, status="failed")],
        sources=[
            SourceView(Source(id="Sbadbadba", url=JS_URL, title=HOSTILE, kind=HOSTILE), found=[ref, child_ref]),
            SourceView(Source(id=HOSTILE, url="https://example.org/a?b=<c>", title=HOSTILE)),
        ],
        report=ReportView(
            title=HOSTILE,
            claims=[
                ClaimView(
                    section=HOSTILE,
                    sentence=HOSTILE,
                    verdict="weak",
                    why=HOSTILE,
                    citations=[CitationView("Sbadbadba", "weak", 0.4, [HOSTILE], title=HOSTILE, found=[ref])],
                ),
                ClaimView(section="", sentence=HOSTILE, verdict="unsupported", citations=[]),
            ],
            summary={HOSTILE: 1},
            removed_citations=[HOSTILE],
        ),
    )


def hostile_report(tmp_path: Path) -> Report:
    cited = ("S1a2b3c4d", "Sdeadbeef")
    return Report(
        title=HOSTILE,
        markdown="",
        sections=[
            ReportSection(heading=HOSTILE, raw=f"{HOSTILE} rose to 73.4 years in 2019 [{cited[0]}]. {HOSTILE} [S0ff]."),
            ReportSection(heading=HOSTILE, raw=f"- {HOSTILE} [{cited[1]}]\n\n{HOSTILE} grew 5% in 2020."),
        ],
        references=[
            Reference(number=1, source_id=cited[0], title=HOSTILE, url=JS_URL, retrieved_at=1_700_000_000.0),
            Reference(number=2, source_id=cited[1], title=HOSTILE, url="https://example.org/x", retrieved_at=0),
        ],
        verification=Verification(
            claims=[
                ClaimCheck(
                    section=0,
                    sentence=f"{HOSTILE} rose to 73.4 years in 2019.",
                    citations=[CitationCheck(source_id=cited[0], score=0.1, verdict="unsupported", reasons=[HOSTILE])],
                ),
                ClaimCheck(
                    section=1,
                    sentence=HOSTILE,
                    citations=[CitationCheck(source_id=cited[1], score=0.3, verdict="weak", reasons=[HOSTILE])],
                ),
                ClaimCheck(section=1, sentence=f"{HOSTILE} grew 5% in 2020.", citations=[]),
            ],
            removed_citations=["S0ff", HOSTILE],
            unsourced_numbers=[FlaggedNumber(number=HOSTILE, sentence=HOSTILE)],
        ),
        figures=[str(tmp_path / "figures" / f"{HOSTILE}.png")],
    )


def hostile_rows() -> list[AttemptRow]:
    return [
        AttemptRow(
            id=HOSTILE, run_id=HOSTILE, attempt=1, status="finished", answer=HOSTILE, expected=HOSTILE, steps=4,
            grade="incorrect", cost_usd=0.02, tokens=1200, error=None,
        ),
        AttemptRow(id="t2", run_id="r2", attempt=1, status="failed", expected=HOSTILE, error=HOSTILE, steps=1),
    ]  # fmt: skip


@dataclass(frozen=True)
class Page:
    name: str
    render: Callable[[Path], str]
    scripts: int
    """<script> elements the page carries itself."""
    charts: int
    """Inline <svg> charts drawn by the framework."""
    shown: int
    """At least this many fields show HOSTILE, verbatim, as text."""


PAGES = [
    Page("trace", lambda tmp: view_page.render_page(hostile_view(), generated_at=1_700_000_000.0), 1, 2, 90),
    Page("report", lambda tmp: report_render.render_html(hostile_report(tmp)), 0, 0, 12),
    Page(
        "summary",
        lambda tmp: _summary.render_html(summarise(HOSTILE, "abcdef0123456789", 2, 1, hostile_rows()), hostile_rows()),
        0,
        3,
        5,
    ),
]


class Parsed(HTMLParser):
    """Elements, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        """Every element outside the charts (an SVG chart counts as its <svg> element)."""
        self.texts: list[str] = []
        """Text outside scripts, stylesheets and charts."""
        self._skip = 0
        self._svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._svg:
            self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._svg += tag == "svg"
        self._skip += tag in ("script", "style", "svg")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "svg") and self._skip:
            self._skip -= 1
        if tag == "svg" and self._svg:
            self._svg -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.texts.append(data)


def problems(page: Page, html: str) -> list[str]:
    """What in ``html`` came from HOSTILE as markup instead of text."""
    parsed = Parsed()
    parsed.feed(html)
    parsed.close()
    tags = parsed.tags
    found = []
    scripts = sum(1 for t, _ in tags if t == "script")
    if scripts != page.scripts:
        found.append(f"{scripts} <script> elements, not {page.scripts}")
    if sum(1 for t, _ in tags if t == "style") != 1:
        found.append("a <style> element beside the page's own")
    if sum(1 for t, _ in tags if t == "svg") != page.charts:
        found.append("an <svg> element that is no chart")
    handlers = sorted({k for _, attrs in tags for k in attrs if k.startswith("on")})
    if handlers:
        found.append(f"event handler attributes: {handlers}")
    for tag, attrs in tags:
        if tag == "img" and not attrs.get("src", "").startswith("data:image/"):
            found.append(f"an image from {attrs.get('src')!r}")
        if tag == "a" and not re.match(r"#|https?://|mailto:", attrs.get("href", "")):
            found.append(f"a link to {attrs.get('href')!r}")
    text = "".join(parsed.texts)
    if text.count(HOSTILE) < page.shown:
        found.append(f"HOSTILE shown verbatim as text {text.count(HOSTILE)} times, not at least {page.shown}")
    if text.count("{{ 7*7 }}") < text.count(HOSTILE) or "{{ 8*8 }}{% endif %}" not in text:
        found.append("template syntax in the text was evaluated")
    return found


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_hostile_text_in_every_field_is_shown_as_text(page: Page, tmp_path: Path) -> None:
    assert problems(page, page.render(tmp_path)) == []


@pytest.fixture
def without_autoescape() -> Iterator[None]:
    """The three pages' environments with autoescape off (compiled templates dropped, so they
    compile again without it); restored after."""
    envs = [templates() for templates in PACKAGES.values()]
    kept = [env.autoescape for env in envs]
    for env in envs:
        assert env.cache is not None
        env.autoescape = False
        env.cache.clear()
    try:
        yield
    finally:
        for env, autoescape in zip(envs, kept, strict=True):
            env.autoescape = autoescape
            env.cache.clear()


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_checks_see_a_page_made_without_autoescape(page: Page, tmp_path: Path, without_autoescape: None) -> None:
    found = problems(page, page.render(tmp_path))
    assert any("event handler" in p for p in found) and any("verbatim" in p for p in found), found


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH (CI: apt-get install -y chromium)")
def test_the_hostile_pages_run_no_script_in_chromium(tmp_path: Path) -> None:
    with Chromium() as browser:
        for page in PAGES:
            path = tmp_path / f"{page.name}.html"
            path.write_text(page.render(tmp_path), encoding="utf-8")
            loaded = browser.load(path)
            assert loaded.errors == [], page.name  # a CSP violation or a script error shows here
            assert [u for u in loaded.requests if not u.startswith("data:")] == [path.as_uri()], page.name
            browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert browser.eval("document.querySelectorAll('a[href^=\"javascript\"]').length") == 0, page.name
            assert browser.eval("typeof window.__pwned") == "undefined", page.name
            assert browser.eval("document.querySelectorAll('script').length") == page.scripts, page.name
            assert browser.eval("document.querySelectorAll('svg').length") == page.charts, page.name
            assert browser.eval("getComputedStyle(document.body).display") == "block", page.name
            assert browser.eval("document.body.textContent").count(HOSTILE) >= page.shown, page.name
            assert browser.loaded().errors == [], page.name


def test_the_trace_pages_csp_allows_the_script_it_carries() -> None:
    page = view_page.render_page(hostile_view(), generated_at=1_700_000_000.0)
    script = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(script) == 1 and "sessionStorage" in script[0]
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp is not None
    assert csp.group(1) == f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


REASON = "not in source: at&t *x* <y>"


def test_a_claims_tooltip_is_its_reasons_escaped_once() -> None:
    """The tooltip of a highlighted claim says its reasons as they are (it went through the
    markdown renderer before, which escaped it once and read markdown in it: ``&amp;amp;``)."""
    report = Report(
        title="t",
        markdown="",
        sections=[ReportSection(heading="h", raw="AT&T grew in 1999 [S1234567].")],
        references=[Reference(number=1, source_id="S1234567", url="https://example.org/")],
        verification=Verification(
            claims=[
                ClaimCheck(
                    section=0,
                    sentence="AT&T grew in 1999.",
                    citations=[CitationCheck(source_id="S1234567", score=0.1, verdict="unsupported", reasons=[REASON])],
                )
            ]
        ),
    )
    page = report_render.render_html(report)
    assert '<mark class="unsupported" title="unsupported: not in source: at&amp;t *x* &lt;y&gt;">' in page


def test_jinja2_loads_with_the_first_page_not_before() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['agentkit', '--help']\n"
        "from agentkit.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'jinja2' not in sys.modules, 'agentkit --help loaded jinja2'\n"
        "import agentkit.report, agentkit.view, agentkit.eval._summary, agentkit.eval.runner\n"
        "assert 'jinja2' not in sys.modules, 'importing the page packages loaded jinja2'\n"
        "from agentkit.report import Report, render_html\n"
        "render_html(Report(title='t', markdown=''))\n"
        "assert 'jinja2' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
