from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentkit.report import render_html, write_report
from agentkit.testing import ScriptedModel, Turn

from .helpers import RUN, S_NASA, S_WHO, make_run

pytestmark = pytest.mark.anyio

HOSTILE_SECTION = (
    f"Global life expectancy rose to 73.4 years in 2019 [{S_WHO}]. <script>alert('model')</script> "
    "[click me](javascript:alert(1)) <img src=x onerror=alert(2)> ![remote](https://evil.example/x.png) "
    f"Arctic sea ice minimum extent declined about 12.6% per decade [{S_NASA}].\n\n"
    "- a list item with \ue000 a sentinel \ue002x|y\ue003 char\n"
)


async def hostile_page(tmp_path: Path) -> str:
    store = await make_run(
        tmp_path, who_title="<script>alert('title')</script> WHO \" onmouseover=x", who_url="javascript:alert(3)"
    )
    llm = ScriptedModel([Turn(content='["<b>Findings</b>"]'), Turn(content=HOSTILE_SECTION)])
    report = await write_report(store, RUN, llm, title="<script>alert('t')</script>Report")
    return render_html(report)


async def test_html_escapes_hostile_input(tmp_path: Path) -> None:
    page = await hostile_page(tmp_path)
    assert "<script" not in page.lower()
    assert 'href="javascript' not in page.lower() and "<img src=x onerror" not in page
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', page)).lower()
    assert "<img src=x" not in page and 'src="https://evil' not in page
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page  # markupsafe writes ' as &#39;
    assert "<b>" not in page
    assert not re.search("[\ue000-\ue003]", page)
    # the javascript: reference URL is shown as text, not linked
    assert '<li id="ref-1" value="1">&lt;script&gt;' in page


async def test_html_self_contained(tmp_path: Path) -> None:
    page = await hostile_page(tmp_path)
    # no external resources: only data: images, no link/script tags, a CSP forbidding the rest
    assert re.findall(r'<img [^>]*src="([^"]+)"', page) and all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'<img [^>]*src="([^"]+)"', page)
    )
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    for target in re.findall(r'href="#(ref-\d+)"', page):
        assert f'id="{target}"' in page
    assert 'href="https://climate.nasa.gov/vital-signs/arctic-sea-ice/" rel="noopener noreferrer nofollow"' in page
