from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.report import (
    ReportNotFound,
    load_report,
    report_from_store,
    save_report,
    store_report,
    write_report,
)
from agentkit.report.writer import gather
from agentkit.store import AssistantMessage, NoteAdded, RunInfo, ToolResultEvent
from agentkit.testing import ScriptedModel, Turn

from .helpers import RUN, S_GHOST, S_NASA, S_UNUSED, S_WHO, make_run

pytestmark = pytest.mark.anyio

OUTLINE = Turn(content='```json\n["Life expectancy", "Arctic sea ice"]\n```')
SECTION_1 = Turn(
    content=(
        "## Life expectancy\n"
        f"Global life expectancy rose to 73.4 years in 2019 according to the World Health Organization [{S_WHO}]. "
        f"Arctic sea ice declined about 12.6% per decade since 1979 [{S_NASA}][{S_WHO}]. "
        f"Penguins in Antarctica learned to fly in 1975 [{S_NASA}]. "
        f"Life expectancy increased by more than 6 years between 2000 and 2019 [{S_GHOST}].\n\n"
        "## References\n1. made-up list\n"
    )
)
SECTION_2 = Turn(
    content=(
        f"In September 2012 the ice covered 3,410,000 square kilometres, the lowest on record [{S_NASA}]. "
        f"Back to the WHO numbers [{S_WHO}]. About 42,000 researchers agree [1]."
    )
)


def model() -> ScriptedModel:
    return ScriptedModel([OUTLINE, SECTION_1, SECTION_2])


async def test_write_report_citations(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    llm = model()
    report = await write_report(store, RUN, llm)
    assert len(llm.requests) == 3
    assert [s.heading for s in report.sections] == ["Life expectancy", "Arctic sea ice"]
    # numbered in order of first use; unknown ids and model-made numbers removed
    assert [(r.number, r.source_id) for r in report.references] == [(1, S_WHO), (2, S_NASA)]
    assert S_UNUSED not in {r.source_id for r in report.references}
    body = "".join(s.markdown for s in report.sections)
    assert "S1a2b3c4d" not in body and "[1]." not in body
    assert body.count(S_GHOST) == 1  # the invented id is not cited: a mark says it was removed
    assert f"`{S_GHOST}`" in report.markdown  # listed in the verification summary
    assert report.verification.removed_citations == [S_GHOST, "[1]"]
    md = report.sections[0].markdown
    assert "World Health Organization [[1]](#ref-1)." in md
    assert "per decade since 1979 [[2]](#ref-2)[[1]](#ref-1)\\[unsupported\\]." in md
    assert "learned to fly in 1975 [[2]](#ref-2)\\[unsupported\\]." in md
    # the ghost citation is not renumbered: a mark stands where it was, and the sentence, which
    # now cites nothing, is flagged
    assert (
        f"between 2000 and 2019 \\[citation removed: unknown source {S_GHOST}\\]. \\[unsupported: no citation\\]" in md
    )
    assert "About 42,000 researchers agree. \\[unsupported: no citation\\]" in report.sections[1].markdown
    assert "made-up list" not in report.markdown
    # the reference list: title, URL, retrieval date
    assert "1. World health statistics 2020. <https://www.who.int/data/stats>. Retrieved 2023-11-14." in report.markdown
    verdicts = {c.sentence: c.verdict for c in report.verification.claims}
    assert verdicts[next(s for s in verdicts if s.startswith("Global life"))] == "supported"
    assert verdicts[next(s for s in verdicts if s.startswith("Penguins"))] == "unsupported"
    sea = next(c for c in report.verification.claims if c.sentence.startswith("Arctic sea ice"))
    assert {c.source_id: c.verdict for c in sea.citations} == {S_NASA: "supported", S_WHO: "unsupported"}
    assert [n.number for n in report.verification.unsourced_numbers] == ["1975", "42,000"]
    assert report.figures and report.figures[0].endswith("fig1.png")
    assert report.usage.calls == 3 and report.usage.prompt_tokens > 0
    summary = report.verification.summary()
    assert summary["claims_checked"] == 7 and summary["removed_citations"] == 2
    assert summary["unsupported"] == 4 and summary["unsourced_numbers"] == 2
    uncited = [c.sentence for c in report.verification.claims if not c.citations]
    assert uncited == [
        "Life expectancy increased by more than 6 years between 2000 and 2019.",
        "About 42,000 researchers agree.",
    ]


async def test_a_heavy_runs_material_includes_its_trajectories_notes_and_python(tmp_path: Path) -> None:
    """A heavy parent holds no notes or Python results of its own: they live in its children."""
    store = await make_run(tmp_path)
    for index, (note, output) in enumerate(
        [("NASA: 12.6% per decade", "decline 1979-2012: 41.7%"), ("WHO: +6 years since 2000", "gain per decade: 3.2")]
    ):
        child = f"{RUN}.t{index}"
        await store.create_run(
            RunInfo(id=child, task="t", parent_id=RUN, label=f"trajectory {index}", created_at=1_700_000_000.0 + index)
        )
        await store.append(child, NoteAdded(text=note))
        call = ToolCall(id="p1", name="python", arguments="{}")
        await store.append(child, AssistantMessage(step=1, turn=AssistantTurn(content="", tool_calls=[call])))
        await store.append(child, ToolResultEvent(step=1, call_id="p1", name="python", text=output))
    material = await gather(store, RUN)
    assert material.notes == [
        "WHO: life expectancy 73.4 years in 2019",
        "(trajectory 0) NASA: 12.6% per decade",
        "(trajectory 1) WHO: +6 years since 2000",
    ]
    assert material.python_outputs[1:] == ["decline 1979-2012: 41.7%", "gain per decade: 3.2"]
    # a number a trajectory computed in Python is not "found in no source"
    section = Turn(content=f"Sea ice fell 41.7% between 1979 and 2012 [{S_NASA}].")
    report = await write_report(store, RUN, ScriptedModel([Turn(content='["Ice"]'), section]))
    assert "41.7" not in [n.number for n in report.verification.unsourced_numbers]


async def test_prompt_lists_sources_not_report(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    llm = model()
    report = await write_report(store, RUN, llm)
    await store_report(store, RUN, report)
    material = await gather(store, RUN)
    assert "report" not in material.sources
    prompt = llm.requests[1].messages[-1]["content"]
    assert f"[{S_WHO}] World health statistics 2020: The World Health Organization" in prompt
    assert "73.4 years" in prompt and "Final answer" in prompt


async def test_judge_resolves_doubtful_claims(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    judge = ScriptedModel(lambda req: Turn(content="Yes." if "Penguins" in str(req.body) else "no"))
    report = await write_report(store, RUN, model(), judge=judge)
    penguin = next(c for c in report.verification.claims if c.sentence.startswith("Penguins"))
    assert penguin.citations[0].judged is True and penguin.verdict == "supported"
    assert report.usage.calls == 3 + len(judge.requests)


async def test_store_and_load_offline(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    with pytest.raises(ReportNotFound):
        await report_from_store(store, RUN)
    report = await report_from_store(store, RUN, model())
    assert await load_report(store, RUN) == report
    again = await report_from_store(store, RUN)  # no model, no network
    assert again.markdown == report.markdown


async def test_save_report_files(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    report = await write_report(store, RUN, model())
    paths = save_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "report.html"]
    md = paths[0].read_text()
    assert "![Figure 1](figures/figure-1.png)" in md and (tmp_path / "out/figures/figure-1.png").is_file()
    assert "## Verification" in md and "| unsupported | 4 |" in md
    page = paths[1].read_text()
    assert re.search(r'<img src="data:image/png;base64,iVBORw0KGgo[^"]+"', page)
    assert 'href="#ref-1"' in page and 'id="ref-1"' in page and 'id="ref-2"' in page
    assert '<mark class="unsupported"' in page and "Penguins" in page
    assert '<sup class="unsupported"' in page
    with pytest.raises(ValueError):
        save_report(report, tmp_path, formats=("pdf",))
