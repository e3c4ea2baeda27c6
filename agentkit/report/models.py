"""The report data model: what ``write_report`` returns and ``store_report`` persists."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agentkit.llm.types import Usage

Verdict = Literal["supported", "weak", "unsupported"]


class Reference(BaseModel):
    """One entry of the reference list; ``number`` is assigned in order of first use."""

    number: int
    source_id: str
    title: str = ""
    url: str = ""
    retrieved_at: float = 0.0


class CitationCheck(BaseModel):
    """The lexical (and optionally judged) evidence that one cited source supports a sentence."""

    source_id: str
    score: float
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    judged: bool | None = None
    """``True``/``False`` when a judge model answered yes/no; ``None`` when not asked."""


class ClaimCheck(BaseModel):
    """A cited sentence and the checks of each of its citations."""

    section: int
    sentence: str
    citations: list[CitationCheck] = Field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """The best verdict among the sentence's citations."""
        order: dict[Verdict, int] = {"supported": 2, "weak": 1, "unsupported": 0}
        if not self.citations:
            return "unsupported"
        return max((c.verdict for c in self.citations), key=lambda v: order[v])


class FlaggedNumber(BaseModel):
    """A number in the report found in no source text and no Python output."""

    number: str
    sentence: str


class Verification(BaseModel):
    claims: list[ClaimCheck] = Field(default_factory=list)
    removed_citations: list[str] = Field(default_factory=list)
    """Citations removed from the text: ids that are not sources of the run, model-made numbers."""
    unsourced_numbers: list[FlaggedNumber] = Field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.claims if c.verdict == verdict)

    @property
    def unsupported_citations(self) -> int:
        """Citations whose source does not support their sentence."""
        return sum(1 for c in self.claims for x in c.citations if x.verdict == "unsupported")

    def summary(self) -> dict[str, int]:
        return {
            "claims_checked": len(self.claims),
            "supported": self.count("supported"),
            "weak": self.count("weak"),
            "unsupported": self.count("unsupported"),
            "unsupported_citations": self.unsupported_citations,
            "removed_citations": len(self.removed_citations),
            "unsourced_numbers": len(self.unsourced_numbers),
        }


class ReportSection(BaseModel):
    heading: str
    raw: str
    """The model's text with citations by source id (``[S1a2b3c4d]``), as written."""
    markdown: str = ""
    """The final text: numbered citations, unknown ids removed, unsupported ones marked."""


class Report(BaseModel):
    run_id: str = ""
    title: str
    markdown: str
    sections: list[ReportSection] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    verification: Verification = Field(default_factory=Verification)
    figures: list[str] = Field(default_factory=list)
    """Paths of PNG figures attached to Python tool results, in run order."""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    created_at: float = 0.0
