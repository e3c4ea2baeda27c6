"""The typed view model of a run's trace: what the HTML page shows, gathered once from the store.

Everything in here that came from the model, a tool or a page is *data*: plain strings, which
the page escapes. Anchors are built from indexes (``r0-s12``), never from stored text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentkit.store.events import Aggregated, RunFinished, RunInfo, Source
from agentkit.vocabulary import Usage

ChildRole = Literal["trajectory", "delegate", "child"]
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Images the page shows (as ``data:`` URIs)."""


@dataclass(frozen=True)
class Picture:
    """An image to show: its bytes (from the store's blobs or a safely read PNG file)."""

    mime_type: str
    data: bytes


MarkerKind = Literal["notice", "error", "status"]


@dataclass(frozen=True)
class StepRef:
    """Where something happened: a step of a run in the page."""

    run_index: int
    run_id: str
    step: int
    tool: str = ""

    @property
    def anchor(self) -> str:
        return step_anchor(self.run_index, self.step)


def run_anchor(run_index: int) -> str:
    return f"r{run_index}"


def step_anchor(run_index: int, step: int) -> str:
    return f"r{run_index}-s{step}"


@dataclass
class CallView:
    """One tool call of a step and its result (``result`` is ``None`` while it runs)."""

    id: str
    name: str
    arguments: str
    """Pretty-printed JSON when it parsed, else the raw text the model sent."""
    parse_error: str | None = None
    result: str | None = None
    is_error: bool = False
    duration_s: float = 0.0
    sources: list[str] = field(default_factory=list)
    child_run: str | None = None
    """The sub-agent run this call delegated to."""
    effects: list[str] = field(default_factory=list)
    """What the call changed besides its result (plan revised, note, cell, figure), one line each."""
    figures: list[Picture] = field(default_factory=list)
    """Figures the call saved."""


@dataclass
class StepView:
    """One model turn of the execution phase."""

    step: int
    ts: float
    elapsed_s: float
    reasoning: str
    content: str
    calls: list[CallView]
    usage: Usage
    usage_reported: bool
    cost_usd: float
    model: str
    finish_reason: str | None
    window: int
    """The context window in force when the request was sent (0: unknown)."""
    notices: list[tuple[str, str]] = field(default_factory=list)
    """Harness messages after the turn: (kind, text)."""
    shared_from: str | None = None
    """For a fork's first steps: the run whose trace holds this step (the run it was forked
    from, or further up for a fork of a fork); ``None``: the run's own step."""

    @property
    def context_tokens(self) -> int:
        """The request's prompt tokens as the server counted them (what the context held)."""
        return self.usage.prompt_tokens

    @property
    def cached_share(self) -> float | None:
        p = self.usage.prompt_tokens
        return self.usage.cached_tokens / p if p else None


@dataclass(frozen=True)
class ContextMark:
    """A change of the message view the context builder recorded, placed before the step
    whose request it was made for: a prune (old results hidden, reasoning elided), a summary
    (the oldest turns condensed into a pinned summary by one model call) or a smaller window
    the server stated."""

    before_step: int
    kind: Literal["prune", "summary", "window"]
    tokens_before: int | None = None
    """Estimated prompt tokens of the view before and after (prunes)."""
    tokens_after: int | None = None
    hide_before: int = 0
    elide_before: int = 0
    drop_before: int = 0
    hard: bool = False
    """The provider had refused the request as too long."""
    summary: str = ""
    summary_usage: Usage | None = None
    summary_cost_usd: float = 0.0
    window: int = 0


@dataclass(frozen=True)
class Marker:
    """Something the timeline shows between steps: a harness notice, an error, a status change."""

    before_step: int
    kind: MarkerKind
    title: str
    body: str = ""


@dataclass(frozen=True)
class PlanRevision:
    step: int
    """The step whose tool call revised it (0: the initial plan, made before the first step)."""
    plan: str
    explanation: str = ""
    ts: float = 0.0


@dataclass(frozen=True)
class PhaseCost:
    """Model calls charged to the run outside its turns (plan, summaries, report, aggregation)."""

    phase: str
    usage: Usage
    cost_usd: float


@dataclass
class CitationView:
    source_id: str
    verdict: str
    score: float
    reasons: list[str]
    title: str = ""
    url: str = ""
    found: list[StepRef] = field(default_factory=list)
    """The steps whose tool results brought this source in."""


@dataclass
class ClaimView:
    section: str
    sentence: str
    verdict: str
    citations: list[CitationView]
    why: str = ""
    """The reasons for a verdict other than supported (as the report's verification says them)."""


@dataclass
class ReportView:
    title: str
    claims: list[ClaimView]
    summary: dict[str, int]
    removed_citations: list[str]


@dataclass
class SourceView:
    source: Source
    found: list[StepRef] = field(default_factory=list)


@dataclass(frozen=True)
class Lineage:
    """Where a fork comes from: its first ``fork_step`` steps are ``forked_from``'s."""

    forked_from: str
    fork_step: int
    parent: RunInfo | None
    """The parent's row (with the status a reader should see); ``None``: not in the store."""


@dataclass
class RunView:
    """A run and, nested, its child runs (heavy trajectories, sub-agents, eval attempts)."""

    index: int
    info: RunInfo
    """The run's row, with the status a reader should see (a dead driver shows ``interrupted``)."""
    in_progress: bool
    """``running`` and someone drives it now (or the store cannot tell)."""
    task: str
    model: str
    provider: str
    declared_window: int
    images: list[tuple[str, Picture]] = field(default_factory=list)
    """Images given with the task: (label, image)."""
    steps: list[StepView] = field(default_factory=list)
    plans: list[PlanRevision] = field(default_factory=list)
    context_marks: list[ContextMark] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    phases: list[PhaseCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_calls: int = 0
    finished: RunFinished | None = None
    aggregation: Aggregated | None = None
    role: ChildRole = "child"
    children: list[RunView] = field(default_factory=list)
    children_total: int = 0
    """How many child runs the store has (more than ``children`` when some were left out)."""
    children_omitted: list[RunInfo] = field(default_factory=list)
    """Child runs listed without their trace (beyond the page's limit)."""
    sources: list[SourceView] = field(default_factory=list)
    report: ReportView | None = None
    lineage: Lineage | None = None
    """Set for a fork (``agentkit fork``)."""
    forks: list[RunInfo] = field(default_factory=list)
    """The runs forked from this one, oldest first."""

    @property
    def shared_steps(self) -> int:
        """How many of the run's first steps are another run's (0: not a fork)."""
        return self.lineage.fork_step if self.lineage is not None else 0

    @property
    def anchor(self) -> str:
        return run_anchor(self.index)

    @property
    def label(self) -> str:
        return self.info.label or self.info.id

    @property
    def context_peak(self) -> int:
        """The prompt tokens of the run's largest request (0: none sent yet)."""
        return max((s.context_tokens for s in self.steps), default=0)

    @property
    def answer(self) -> str:
        if self.finished is not None:
            return self.finished.answer
        return self.info.answer or ""

    def walk(self) -> list[RunView]:
        """This run and every run nested in it, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass
class SideBySide:
    """A fork and the run it was forked from, for one page that shows the steps they share
    once and, from the fork point on, each run's own steps side by side."""

    fork: RunView
    parent: RunView
    fork_step: int
    settings: list[tuple[str, str, str]]
    """The run settings that differ: (name, the parent's value, the fork's value), as text."""


__all__ = [
    "IMAGE_TYPES",
    "CallView",
    "ChildRole",
    "CitationView",
    "ClaimView",
    "ContextMark",
    "Lineage",
    "Marker",
    "PhaseCost",
    "Picture",
    "PlanRevision",
    "ReportView",
    "RunView",
    "SideBySide",
    "SourceView",
    "StepRef",
    "StepView",
    "run_anchor",
    "step_anchor",
]
