"""``agentkit demo``: a complete research run offline, with a scripted model.

Plan, searches on a small corpus shipped here (offline search backend), fetches from a
loopback web server, Python analysis with a figure (in the sandbox), context pruning, and a
report in markdown and HTML whose citations are verified — all driven by the bundled fake
provider replaying a scripted trajectory. Only the model is scripted; everything else is
the real machinery.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agentkit.cli._demo.report_script import ReportScript
from agentkit.cli._demo.trajectory import QUESTION, make_responder
from agentkit.llm.client import OpenAICompatibleModel
from agentkit.run.agent import Agent, RunResult
from agentkit.run.live import EventHandler
from agentkit.store.base import Store
from agentkit.testing import FakeProvider
from agentkit.tools import builtin_tools

HERE = Path(__file__).resolve().parent


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


@contextmanager
def site_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def run_demo(out_dir: Path, store: Store, runs_dir: Path, on_event: EventHandler | None = None) -> DemoOutcome:
    from agentkit.report import save_report, store_report, write_report

    work = Path(tempfile.mkdtemp(prefix="agentkit-demo-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(HERE / "corpus", corpus)
        settings: dict[str, Any] = {
            "search": {"backend": "local", "index": str(corpus)},
            "fetch": {"allow_private_hosts": True},
        }
        script = ReportScript()
        with site_server() as site, FakeProvider(make_responder(site, script.answer)) as fake:
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
                result = await agent.run(QUESTION)
                report = await write_report(
                    store, result.run_id, llm, title="Riverton Bike Share: ridership and e-bikes, 2019-2024"
                )
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
