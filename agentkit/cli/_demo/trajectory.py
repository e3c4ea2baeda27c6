"""The scripted trajectory of ``agentkit demo``: what a thinking model would do, replayed.

Every turn is computed from the request the agent actually sent (source ids, tool output),
so the run exercises the real tools, store, context budget and report writer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agentkit.context.summary import SUMMARY_SYSTEM
from agentkit.testing import FakeRequest, Turn, call

QUESTION = (
    "How has ridership of Riverton Bike Share developed since it opened, and what role do "
    "e-bikes play? Give the growth with numbers and cite the sources."
)

PLAN = """1. Search the corpus for Riverton Bike Share ridership and e-bikes.
2. Read the operator's 2024 annual report for yearly trip counts.
3. Compute total and average annual growth with Python and chart the trips per year.
4. Note the key figures with their sources.
5. Answer with numbers and citations."""

ANALYSIS = """import matplotlib.pyplot as plt

years = [2019, 2020, 2021, 2022, 2023, 2024]
trips = [210_000, 180_000, 260_000, 340_000, 415_000, 502_000]
growth = (trips[-1] / trips[0] - 1) * 100
cagr = ((trips[-1] / trips[0]) ** (1 / (years[-1] - years[0])) - 1) * 100
print(f"growth 2019-2024: {growth:.0f}%")
print(f"average annual growth: {cagr:.1f}%")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(years, [t / 1000 for t in trips], color="#3b6ea8")
ax.set_ylabel("trips (thousands)")
ax.set_title("Riverton Bike Share: trips per year")
plt.tight_layout()
plt.show()
"""

_ID = re.compile(r"\[(?:source )?(S[0-9a-f]{8})\]\s*([^\n]*)")
"""A source id with the title after it, as web_search, fetch and the report writer print them."""
_MARKERS = (("annual", "Annual Report 2024"), ("overview", "an overview"), ("ebikes", "E-bikes arrive"))


def find_source_ids(text: str, ids: dict[str, str]) -> dict[str, str]:
    """Add the demo's three sources (annual report, overview, e-bike article) found in ``text``."""
    for sid, title in _ID.findall(text):
        for key, marker in _MARKERS:
            if marker in title:
                ids.setdefault(key, sid)
    return ids


def _tool_outputs(req: FakeRequest) -> list[str]:
    return [str(m.get("content") or "") for m in req.messages if m.get("role") == "tool"]


def _calls_made(req: FakeRequest) -> list[str]:
    return [tc["function"]["name"] for m in req.messages for tc in m.get("tool_calls") or []]


def make_responder(site: str, report: Callable[[FakeRequest], Turn | None]) -> Callable[[FakeRequest], Any]:
    """``site``: base URL of the loopback page server; ``report`` answers report-writer requests."""
    annual = f"{site}/reports/annual-2024.html"
    ids: dict[str, str] = {}

    def respond(req: FakeRequest) -> Turn:
        written = report(req)
        if written is not None:
            return written
        if req.messages[0]["content"] == SUMMARY_SYSTEM:
            return Turn(
                content="- Searched the corpus; read the 2024 annual report; trips 210,000 (2019) to 502,000 (2024)."
            )
        if not req.tools:
            return Turn(reasoning="Plan before acting.", content=PLAN)
        for text in _tool_outputs(req):
            find_source_ids(text, ids)
        made = _calls_made(req)
        step = len([m for m in req.messages if m.get("tool_calls")])
        if step == 0:
            return Turn(
                reasoning="Two independent searches: run them together.",
                tool_calls=[
                    call("web_search", query="Riverton Bike Share ridership trips per year", max_results=3),
                    call("web_search", query="Riverton e-bikes share of trips", max_results=3),
                ],
            )
        if "fetch" not in made:
            over = ids.get("overview", "")
            return Turn(
                reasoning=f"The overview [{over}] points to the annual report; read it.",
                tool_calls=[call("fetch", url=annual)],
            )
        if "python" not in made:
            return Turn(
                reasoning="The table has trips for 2019-2024; compute growth and plot it.",
                tool_calls=[call("python", code=ANALYSIS)],
            )
        if "note" not in made:
            a = ids.get("annual", "")
            return Turn(
                reasoning="Keep the key figures pinned before the context is pruned.",
                tool_calls=[
                    call(
                        "note",
                        text=f"Trips: 210,000 in 2019, 180,000 in 2020, 502,000 in 2024 [{a}]; "
                        f"growth 139% over 2019-2024, 19.0% a year (python).",
                    ),
                    call("note", text=f"E-bikes since March 2022: 38% of trips in 2024 [{a}]."),
                    call("update_plan", plan=PLAN.replace("3. Compute", "3. (done) Compute"), reason="analysis done"),
                ],
            )
        if made.count("fetch") < 2:
            return Turn(
                reasoning="Check the e-bike article for when e-bikes were added.",
                tool_calls=[call("fetch", url=ids.get("ebikes", "local:riverton-ebikes.md"))],
            )
        a, o, e = ids.get("annual", ""), ids.get("overview", ""), ids.get("ebikes", "")
        return Turn(
            reasoning="I have what I need.",
            content=(
                f"Riverton Bike Share opened in April 2019 with 40 stations [{o}]. Riders made 210,000 trips "
                f"in 2019 and 502,000 in 2024, the highest total since the scheme opened [{a}]. That is "
                f"growth of about 139% over five years, or 19.0% a year on average (computed with Python). "
                f"Ridership fell to 180,000 in 2020 and has grown every year since [{a}]. "
                f"E-bikes, added in March 2022 [{e}], accounted for 38% of all trips in 2024 [{a}]."
            ),
        )

    return respond
