"""``agentkit demo``: a complete research run offline, with a scripted model.

Plan, searches on a small corpus shipped here (offline search backend), fetches from a
loopback web server, Python analysis with a figure (in the sandbox), context pruning, and a
report in markdown and HTML whose citations are verified — all driven by the bundled fake
provider replaying a scripted trajectory. Only the model is scripted; everything else is
the real machinery.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agentkit.cli._common import DEMO_LABEL
from agentkit.cli._demo.report_script import ReportScript
from agentkit.cli._demo.trajectory import QUESTION, make_responder
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run.agent import Agent, RunResult
from agentkit.run.live import EventHandler
from agentkit.store.base import Store
from agentkit.testing import FakeProvider
from agentkit.tools import builtin_tools

HERE = Path(__file__).resolve().parent
TITLE = "Riverton Bike Share: ridership and e-bikes, 2019-2024"


@dataclass
class DemoOutcome:
    result: RunResult
    files: list[Path]
    pruned: int
    report_summary: str


class _Site(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path != "/reports/annual-2024.html":
            self.send_error(404)
            return
        body = (HERE / "site" / "annual-2024.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _SiteServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client gone (Ctrl-C) is not news
            super().handle_error(request, client_address)


@contextmanager
def site_server(port: int = 0) -> Iterator[str]:
    """The loopback page server, on ``port`` when it is free (a resumed demo's unanswered
    fetch names the port its first process had), else on one the system picks."""
    try:
        server = _SiteServer(("127.0.0.1", port), _Site)
    except OSError:
        server = _SiteServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def run_demo(
    out_dir: Path,
    store: Store,
    runs_dir: Path,
    on_event: EventHandler | None = None,
    *,
    run_id: str | None = None,
    resume: bool = False,
) -> DemoOutcome:
    """The demo run ``run_id`` (labelled :data:`DEMO_LABEL`), started, or with ``resume``
    continued from its trace like any run (``agentkit resume``), then its report: written once
    and kept in the store, saved to ``out_dir``."""
    from agentkit.report import load_report, save_report, store_report, write_report

    work = Path(tempfile.mkdtemp(prefix="agentkit-demo-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(HERE / "corpus", corpus)
        settings: dict[str, Any] = {
            "search": {"backend": "local", "index": str(corpus)},
            "fetch": {"allow_private_hosts": True},
        }
        script = ReportScript()
        port = await _site_port(store, run_id) if resume and run_id else 0
        with site_server(port) as site, FakeProvider(make_responder(site, script.answer)) as fake:
            llm = OpenAICompatibleModel(provider="moonshot", base_url=fake.base_url, api_key="scripted-demo")
            agent = Agent(
                llm=llm,
                tools=builtin_tools(settings),
                store=store,
                workdir=runs_dir,
                settings=settings,
                context_window=32_768,
                max_tokens=4096,
                keep_tool_results=2,
                max_steps=20,
                on_event=on_event,
                instructions="This is agentkit's scripted offline demo.",
            )
            async with agent:
                if resume and run_id:
                    result = await agent.resume(run_id)
                else:
                    result = await agent.run(QUESTION, run_id=run_id, label=DEMO_LABEL)
                report = await load_report(store, result.run_id)
                if report is None:
                    report = await write_report(store, result.run_id, llm, title=TITLE)
                    await store_report(store, result.run_id, report)
        files = save_report(report, out_dir)
        pruned = sum(1 for e in await store.events(result.run_id) if getattr(e.event, "action", "") == "prune")
        v = report.verification.summary()
        summary = (
            f"{v['claims_checked']} cited claims checked: {v['supported']} supported, {v['weak']} weak, "
            f"{v['unsupported']} unsupported; {v['removed_citations']} citation(s) removed; "
            f"{v['unsourced_numbers']} number(s) found in no source"
        )
        return DemoOutcome(result=result, files=files, pruned=pruned, report_summary=summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _site_port(store: Store, run_id: str) -> int:
    """The port of the page server the demo run's fetches named (0: none yet)."""
    from agentkit.store.events import AssistantMessage

    for stored in await store.events(run_id):
        if isinstance(stored.event, AssistantMessage):
            for c in stored.event.turn.tool_calls:
                found = re.search(r"http://127\.0\.0\.1:(\d+)/reports/", c.arguments)
                if c.name == "fetch" and found:
                    return int(found.group(1))
    return 0
