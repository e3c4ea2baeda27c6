"""A report's factual sentences that cite nothing are flagged (and only those); one vocabulary
for verdicts in the text, the tables and the JSON; a removed invented citation leaves a mark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentkit.report import render_html, render_markdown, save_report, write_report
from agentkit.report.verify import uncited_claim
from agentkit.testing import ScriptedModel, Turn

from .helpers import RUN, S_GHOST, S_NASA, S_WHO, make_run

pytestmark = pytest.mark.anyio

FLAGGED = {
    "The scheme is the largest in the region.": "superlative: largest",
    "Ridership reached 1.2 million trips in 2023.": "number: 1.2 million",
    "Ridership grew 5% last year.": "number: 5%",
    "The network opened on March 3 with twelve stations.": "date: March 3",
    "The World Health Organization tracks this every year.": "name: World Health Organization",
    "It was the most popular option among commuters.": "superlative: most popular",
    "Riverton was the first city to ban cars downtown.": "superlative: first",
    "About 42,000 researchers agree.": "number: 42,000",
}
NOT_FLAGGED = [
    "This section reviews the evidence from the World Health Organization.",  # only introduces
    "The sections below compare Riverton and Lakeside.",
    "The main findings of the 2023 survey are:",  # introduces a list
    "Bike sharing can make short trips easier.",  # nothing checkable
    "Why did ridership grow so much in 2023?",  # a question
    "| 2023 | 1.2 million |",  # a table row
    "The interest in cycling is high among riders.",  # "-est" that is no superlative
    "First, riders pay a fee at the dock.",  # an ordinal, not "the first"
    "Most riders said they liked it.",
    "However, demand fell sharply after that.",
    "Ice declined.",  # too short to assert much
]


@pytest.mark.parametrize(("sentence", "part"), FLAGGED.items())
def test_checkable_sentences_without_a_citation_are_flagged(sentence: str, part: str) -> None:
    assert part in uncited_claim(sentence)


@pytest.mark.parametrize("sentence", NOT_FLAGGED)
def test_introductions_questions_and_unverifiable_sentences_are_not(sentence: str) -> None:
    assert uncited_claim(sentence) == []


def test_a_figure_the_run_computed_and_a_sentence_about_the_report_are_not_flagged() -> None:
    computed = ["growth 2019-2024: 139%\naverage annual growth: 19.0%"]
    sentence = "Over 2019-2024 ridership grew about 139%, or 19.0% a year, computed in the Python sandbox."
    assert uncited_claim(sentence, computed=computed) == []
    assert uncited_claim(sentence) != []  # without the run's output behind it, it needs a citation
    assert uncited_claim("Ridership grew 140% over 2019-2024 in Python.", computed=computed) != []  # not computed
    assert uncited_claim("It is the largest growth in 2019-2024, at 139%.", computed=computed) != []  # superlative
    about = "All figures come from the operator's 2024 report, listed under References."
    assert uncited_claim(about) == []


def test_a_conclusion_may_hedge_and_restate_but_not_add_new_facts() -> None:
    cited = ["Global life expectancy rose to 73.4 years in 2019 according to the World Health Organization."]
    assert uncited_claim("Overall, ridership appears to have grown strongly since 2019.", conclusion=True) == []
    restated = "Life expectancy reached 73.4 years in 2019, per the World Health Organization."
    assert uncited_claim(restated, conclusion=True, cited=cited) == []
    assert uncited_claim(restated, conclusion=False, cited=cited) != []  # in the body it needs its citation
    new = "The city will add 500 bikes in 2027."
    assert uncited_claim(new, conclusion=True, cited=cited) == ["number: 500", "number: 2027"]


OUTLINE = Turn(content='["Findings", "Conclusion"]')
FINDINGS = Turn(
    content=(
        "This section reviews what the sources say.\n\n"
        f"Global life expectancy rose to 73.4 years in 2019 according to the World Health Organization [{S_WHO}]. "
        "The scheme is the largest in the region. "
        f"Sea ice covered 3,410,000 square kilometres in September 2012 [{S_GHOST}].\n\n"
        "```python\nprint(2023 * 1.5)\n```\n"
        "Bike sharing can make short trips easier.\n"
    )
)
CONCLUSION = Turn(
    content=(
        "Overall, life expectancy appears to have risen. "
        "Life expectancy reached 73.4 years in 2019, per the World Health Organization. "
        "The city will add 500 bikes in 2027."
    )
)


async def test_the_report_marks_uncited_claims_and_removed_citations_in_md_html_and_json(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    report = await write_report(store, RUN, ScriptedModel([OUTLINE, FINDINGS, CONCLUSION]))
    uncited = [(c.section, c.sentence) for c in report.verification.claims if not c.citations]
    assert uncited == [
        (0, "The scheme is the largest in the region."),
        (0, "Sea ice covered 3,410,000 square kilometres in September 2012."),
        (1, "The city will add 500 bikes in 2027."),
    ]
    assert all(c.verdict == "unsupported" for c in report.verification.claims if not c.citations)

    md = render_markdown(report)
    assert "The scheme is the largest in the region. \\[unsupported: no citation\\]" in md
    assert f"September 2012 \\[citation removed: unknown source {S_GHOST}\\]. \\[unsupported: no citation\\]" in md
    assert "This section reviews what the sources say.\n" in md and "easier.\n" in md  # not flagged
    assert "- **unsupported**: The scheme is the largest in the region. (no citation; superlative: largest)" in md
    assert "| uncited claims | 3 |" in md

    page = render_html(report)
    assert f"[citation removed: unknown source {S_GHOST}]" in page
    assert '<mark class="unsupported" title="unsupported: no citation; superlative: largest">' in page
    assert ">unsupported: no citation</sup>" in page and "<td>uncited claims</td>" in page

    data = json.loads(save_report(report, tmp_path / "out", formats=("json",))[0].read_text())
    assert [c["citations"] for c in data["verification"]["claims"] if c["sentence"].startswith("The scheme")] == [[]]


SECTION_WITH_BAD_CITATION = Turn(content=f"Penguins in Antarctica learned to fly in 1975 [{S_NASA}].")


async def test_one_vocabulary_for_verdicts_everywhere(tmp_path: Path) -> None:
    store = await make_run(tmp_path)
    report = await write_report(store, RUN, ScriptedModel([Turn(content='["Birds"]'), SECTION_WITH_BAD_CITATION]))
    [claim] = report.verification.claims
    assert claim.verdict == "unsupported"
    md, page = render_markdown(report), render_html(report)
    dumped = report.model_dump_json()
    for text in (md, page, dumped):
        assert "unverified" not in text.casefold()
    assert "[[1]](#ref-1)\\[unsupported\\]" in md and "| unsupported citations | 1 |" in md
    assert '<sup class="unsupported" title="this source does not support the sentence">unsupported</sup>' in page
    assert '<td class="verdict-unsupported">unsupported</td>' in page
    assert "text-transform:uppercase" not in page  # the badge says the table's word, as written
