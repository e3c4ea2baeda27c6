from __future__ import annotations

from agentkit.report.cite import Numbering, rewrite, segments
from agentkit.report.render import md_marker
from agentkit.report.verify import (
    SourceText,
    check_sentence,
    numbers_in,
    significant_numbers,
    unsourced_numbers,
)
from agentkit.report.writer import parse_outline

from .helpers import NASA_TEXT, S_NASA, S_WHO, WHO_TEXT

TEXTS = {S_WHO: SourceText(WHO_TEXT), S_NASA: SourceText(NASA_TEXT)}


def test_number_normalisation() -> None:
    nums = numbers_in("1,000 and 1 000 and 1000; 3.50 and 45% and 2 million", lenient=True)
    assert {"1000", "3.5", "45", "2000000"} <= nums.keys()
    assert set(significant_numbers("In 2019, 7 of 1,200 (45.0%)")) == {"2019", "1200", "45"}


def test_supported_sentence() -> None:
    [check] = check_sentence(
        "Global life expectancy rose to 73.4 years in 2019, according to the World Health Organization.", [S_WHO], TEXTS
    )
    assert check.verdict == "supported", check


def test_unsupported_by_wrong_source() -> None:
    [check] = check_sentence("Global life expectancy rose to 73.4 years in 2019.", [S_NASA], TEXTS)
    assert check.verdict == "unsupported"


def test_missing_number_and_quote_fail() -> None:
    [num] = check_sentence("Global life expectancy rose to 81.2 years in 2019.", [S_WHO], TEXTS)
    assert num.verdict == "unsupported" and any("81.2" in r for r in num.reasons)
    [quote] = check_sentence('The WHO said life expectancy "doubled overnight" in 2019.', [S_WHO], TEXTS)
    assert quote.verdict == "unsupported" and any("quote" in r for r in quote.reasons)
    [ok] = check_sentence(
        "NASA reports the ice covered 3 410 000 square kilometres in September 2012.", [S_NASA], TEXTS
    )
    assert ok.verdict == "supported", ok


def test_distinctive_words_weigh_more_than_words_every_source_shares() -> None:
    """The demo's planted claim: its common words are everywhere, its distinctive ones nowhere."""
    texts = {
        "Sa": SourceText(
            "Riverton Bike Share added 150 electric bicycles to its fleet in March 2022. The operator "
            "says e-bikes drew new riders from the outer districts."
        ),
        "Sb": SourceText("Riders of Riverton Bike Share made 502,000 trips in 2024; e-bike trips were longer."),
        "Sc": SourceText("Riverton's parks department maintains riverside paths used by riders and walkers."),
    }
    claim = "Most e-bike riders are students commuting to the campus."
    [check] = check_sentence(claim, ["Sa"], texts)
    assert check.verdict == "unsupported", check
    [paraphrase] = check_sentence("The operator added electric bicycles to the fleet in March 2022.", ["Sa"], texts)
    assert paraphrase.verdict == "supported", paraphrase


def test_missing_text_is_unsupported() -> None:
    [check] = check_sentence("Anything at all.", ["Sabcdef12"], {"Sabcdef12": None})
    assert check.verdict == "unsupported" and check.reasons == ["no stored text for this source"]


def test_unsourced_numbers() -> None:
    flagged = unsourced_numbers(
        ["Ice fell 12.6% per decade.", "About 42,000 people and 0.3158 per year."],
        [NASA_TEXT, "mean gain per year: 0.3158"],
    )
    assert [f.number for f in flagged] == ["42,000"]


def test_segments_and_rewrite() -> None:
    md = f"First claim [{S_WHO}]. Second. [{S_NASA}, S99999999]\n\n```\n[{S_NASA}] 1234\n```\n"
    segs = segments(md)
    assert "".join(s.text for s in segs) == md
    claims = [s for s in segs if s.claim]
    assert claims[1].source_ids == [S_NASA, "S99999999"]
    numbering = Numbering({S_WHO, S_NASA})
    numbering.scan(md)
    assert numbering.numbers == {S_WHO: 1, S_NASA: 2} and numbering.removed == ["S99999999"]
    out = rewrite(md, numbering, lambda i, sid: sid == S_NASA, md_marker({}))
    assert "First claim [[1]](#ref-1). Second. [[2]](#ref-2)\\[unsupported\\]" in out
    assert "S99999999" not in out


def test_parse_outline_variants() -> None:
    assert parse_outline('Sure!\n```json\n["Background", "Findings"]\n```') == ["Background", "Findings"]
    assert parse_outline("Here is the outline:\n1. **Background**\n2. Findings\n3. References") == [
        "Background",
        "Findings",
    ]
    assert parse_outline('[{"heading": "A"}, {"title": "B"}]') == ["A", "B"]
    assert parse_outline("## Intro\n## Data") == ["Intro", "Data"]
