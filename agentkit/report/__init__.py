"""Research reports with verified citations.

``write_report`` turns a stored run into a :class:`Report` (outline + one model call per
section); the framework numbers the citations, writes the reference list and checks every
cited sentence against the stored source text. ``save_report`` writes ``report.md`` and a
self-contained ``report.html``; ``store_report``/``load_report`` keep it in the run's store.
"""

from agentkit.report.models import (
    CitationCheck,
    ClaimCheck,
    FlaggedNumber,
    Reference,
    Report,
    ReportSection,
    Verdict,
    Verification,
)
from agentkit.report.persist import ReportNotFound, load_report, report_from_store, store_report
from agentkit.report.render import render_html, render_markdown, save_report
from agentkit.report.verify import check_sentence, unsourced_numbers
from agentkit.report.writer import assemble, gather, parse_outline, write_report

__all__ = [
    "CitationCheck",
    "ClaimCheck",
    "FlaggedNumber",
    "Reference",
    "Report",
    "ReportNotFound",
    "ReportSection",
    "Verdict",
    "Verification",
    "assemble",
    "check_sentence",
    "gather",
    "load_report",
    "parse_outline",
    "render_html",
    "render_markdown",
    "report_from_store",
    "save_report",
    "store_report",
    "unsourced_numbers",
    "write_report",
]
