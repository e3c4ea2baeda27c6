"""Scripted answers to the report writer's requests in ``agentkit demo``.

The sections cite by source id as a model would. Two sentences are deliberately wrong so
the demo shows verification at work: one cites a source that does not support it, one
cites an id the agent never read.
"""

from __future__ import annotations

import re

from agentkit.cli._demo.trajectory import find_source_ids
from agentkit.testing import FakeRequest, Turn

HEADINGS = ["Ridership since 2019", "E-bikes", "Method and limits"]


class ReportScript:
    def answer(self, req: FakeRequest) -> Turn | None:
        if not str(req.messages[0].get("content", "")).startswith("You write sections of a research report"):
            return None
        prompt = str(req.messages[-1]["content"])
        if "JSON list of strings" in prompt:
            return Turn(content='["' + '", "'.join(HEADINGS) + '"]')
        ids = find_source_ids(prompt, {})
        a, o, e = ids.get("annual", ""), ids.get("overview", ""), ids.get("ebikes", "")
        heading = re.search(r"Write the section \u201c([^\u201d]+)\u201d", prompt)
        name = heading.group(1) if heading else ""
        if name == HEADINGS[0]:
            text = (
                f"Riverton Bike Share opened in April 2019 with 40 docking stations [{o}]. Riders made "
                f"210,000 trips in 2019 and 502,000 trips in 2024, the highest total since the scheme "
                f"opened [{a}]. Ridership fell to 180,000 trips in 2020, when offices and the university "
                f"closed for much of the year, and has grown every year since [{a}].\n\n"
                "Over 2019-2024 that is growth of about 139%, or 19.0% a year on average, computed in "
                "the Python sandbox from the annual report's table."
            )
        elif name == HEADINGS[1]:
            text = (
                f"Electric bicycles were added to the fleet in March 2022 [{e}]. In 2024 they accounted "
                f"for 38% of all trips, although they make up only a quarter of the fleet [{a}]. The "
                f"average e-bike trip was 4.1 kilometres, against 2.3 kilometres on a standard bicycle "
                f"[{a}].\n\nMost e-bike riders are students commuting to the campus [{e}]. The scheme is "
                "the largest in the region [S0badc0de]."
            )
        else:
            # A methods note names its sources without citation markers: "figures come from [1]"
            # is an attribution, not a claim the source's text could support word for word.
            text = (
                "All figures come from the operator's 2024 annual report and the city's overview of "
                "the scheme, listed under References; growth rates were computed in the Python sandbox. "
                "Riverton is a fictional city: this report comes from agentkit's scripted offline demo."
            )
        return Turn(content=text)
