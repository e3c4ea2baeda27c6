"""Render a generated report.html in headless Chromium (Debian package ``chromium``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from agentkit.report import save_report, write_report

from .helpers import RUN, make_run
from .test_writer import model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not on PATH (CI: apt-get install -y chromium)"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


async def test_report_renders_in_chromium(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    report = await write_report(store, RUN, model())
    html_path = next(p for p in save_report(report, tmp_path / "out") if p.suffix == ".html")
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,1600", html_path.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, result.stderr[-2000:]
    dom = chromium("--dump-dom", html_path.as_uri()).stdout
    targets = re.findall(r'<a class="cite" href="#(ref-\d+)"', dom)
    assert targets, dom[:2000]
    for target in targets:
        assert re.search(rf'<li id="{target}"', dom)
    assert re.search(r'<img src="data:image/png;base64,', dom)
