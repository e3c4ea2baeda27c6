"""Turn a stored run (and its child runs) into the typed view model the page is built from.

The trace is read as typed events and folded with the run's own fold (:class:`RunState`), one
event at a time, so each context decision is placed where it happened: a
``BudgetDecision(action="prune")`` is committed while the view for the next request is built,
so it belongs *before* the step that request produced. Nothing here writes to the store.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import orjson

from agentkit.report.models import Report
from agentkit.report.persist import load_report
from agentkit.report.render import read_figure, why
from agentkit.report.writer import REPORT_KIND
from agentkit.store.base import Store
from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    ErrorEvent,
    FigureProduced,
    NoteAdded,
    PlanUpdated,
    RunInfo,
    StatusChanged,
    StoredEvent,
    ToolEffect,
    ToolResultEvent,
    UsageCharged,
)
from agentkit.store.fold import RunState, TurnRecord
from agentkit.store.status import shown_status
from agentkit.view.model import (
    IMAGE_TYPES,
    CallView,
    ChildRole,
    CitationView,
    ClaimView,
    ContextMark,
    Marker,
    PhaseCost,
    Picture,
    PlanRevision,
    ReportView,
    RunView,
    SourceView,
    StepRef,
    StepView,
)
from agentkit.vocabulary import ImageRef, ToolCall, Usage

MAX_CHILDREN = 24
"""Child runs shown with their whole trace; more are listed by their row only."""
MAX_DEPTH = 2
"""Levels of child runs gathered below the run (heavy -> trajectory -> sub-agent)."""
MAX_INLINE_FIGURE = 4 * 1024 * 1024


async def gather(store: Store, run_id: str, *, max_children: int = MAX_CHILDREN, depth: int = MAX_DEPTH) -> RunView:
    """The view of ``run_id`` (an id or a unique prefix; raises ``RunNotFound``), with its
    child runs, its sources and the steps that found them, and its report's claims."""
    info = await shown_status(store, await store.find_run(run_id))
    counter = itertools.count()
    root = await _gather_run(store, info, counter, "child", max_children=max_children, depth=depth)
    found = _source_index(root)
    sources = [s for s in await store.list_sources(info.id) if s.kind != REPORT_KIND]
    root.sources = [SourceView(s, found.get(s.id, [])) for s in sources]
    report = await load_report(store, info.id)
    if report is not None:
        root.report = _report_view(report, {s.source.id: s for s in root.sources}, found)
    return root


async def _gather_run(
    store: Store, info: RunInfo, counter: Iterator[int], role: ChildRole, *, max_children: int, depth: int
) -> RunView:
    view = RunView(
        index=next(counter),
        info=info,
        in_progress=info.status == "running",
        task=info.task,
        model=str(info.config.get("model") or ""),
        provider=str(info.config.get("provider") or ""),
        declared_window=_int(info.config.get("context_window")) or 0,
        role=role,
    )
    figures: list[tuple[CallView, FigureProduced]] = []
    state = _walk(view, await store.events(info.id), figures)
    for call, figure in figures:
        image = await _figure(store, figure)
        if image is not None:
            call.figures.append(image)
    for ref in state.images:
        image = await _image(store, ref)
        if image is not None:
            view.images.append((ref.label, image))
    view.task = state.task or info.task
    view.notes = list(state.notes)
    view.finished = state.finished
    view.tool_calls = state.tool_calls
    has_turns = bool(state.records)
    view.usage, view.cost_usd = info.usage, info.cost_usd  # as every reader shows them (shown_status)
    if depth > 0:
        kids = sorted(await store.list_runs(parent_id=info.id, limit=100_000), key=lambda r: _natural(r.id))
        view.children_total = len(kids)
        heavy = (_int(info.config.get("heavy")) or 1) > 1
        for kid in kids:
            if len(view.children) >= max_children:
                view.children_omitted.append(await shown_status(store, kid))
                continue
            kid_role: ChildRole = "trajectory" if heavy else "delegate" if kid.label == "delegate" else "child"
            shown = await shown_status(store, kid)
            view.children.append(
                await _gather_run(store, shown, counter, kid_role, max_children=max_children, depth=depth - 1)
            )
    if not has_turns:
        view.tool_calls = sum(c.tool_calls for c in view.children)
    return view


def _walk(view: RunView, events: list[StoredEvent], figures: list[tuple[CallView, FigureProduced]]) -> RunState:
    """Fold the events one by one, noting where each context decision, error and status
    change fell between the steps; then read the steps, plans and costs off the fold. The
    figures the calls saved are listed in ``figures``, to be read from the store."""
    state = RunState(run_id=view.info.id)
    window = view.declared_window
    windows: dict[int, int] = {}
    last_drop = 0
    for stored in events:
        event = stored.event
        upcoming = state.step + 1
        state.apply(event, stored.seq)
        if isinstance(event, AssistantMessage):
            windows[event.step] = window
        elif isinstance(event, BudgetDecision):
            mark = _context_mark(event, upcoming, last_drop)
            if mark is None:
                continue
            view.context_marks.append(mark)
            if mark.kind == "window":
                window = min(window, mark.window) if window else mark.window
            else:
                last_drop = max(last_drop, mark.drop_before)
                if mark.summary_usage is not None:
                    view.phases.append(PhaseCost("summary", mark.summary_usage, mark.summary_cost_usd))
        elif isinstance(event, ErrorEvent):
            view.markers.append(Marker(upcoming, "error", f"error: {event.kind}", event.message))
        elif isinstance(event, StatusChanged):
            view.markers.append(Marker(upcoming, "status", f"status: {event.status}", event.reason or ""))
        elif isinstance(event, Aggregated):
            view.aggregation = event
            if event.turn is not None:
                view.phases.append(PhaseCost("aggregate", event.turn.usage, event.turn.cost_usd))
        elif isinstance(event, UsageCharged) and event.call_id is None:
            view.phases.append(PhaseCost(event.phase, event.usage, event.cost_usd))
    if state.plan_event is not None:
        plan = state.plan_event
        view.plans.append(PlanRevision(0, plan.plan, plan.explanation, plan.ts))
        if plan.turn is not None:
            view.phases.insert(0, PhaseCost("plan", plan.turn.usage, plan.turn.cost_usd))
    view.markers[:0] = [Marker(1, "notice", f"notice: {n.kind}", n.text) for n in state.head_notices]
    for record in state.records:
        step = _step_view(record, windows.get(record.event.step, window))
        view.steps.append(step)
        for call, shown in zip(record.event.turn.tool_calls, step.calls, strict=True):
            effects = record.effects.get(call.id, ())
            figures.extend((shown, e) for e in effects if isinstance(e, FigureProduced))
        for call in record.event.turn.tool_calls:
            for effect in record.effects.get(call.id, ()):
                if isinstance(effect, PlanUpdated):
                    view.plans.append(PlanRevision(record.event.step, effect.plan, effect.explanation, effect.ts))
    return state


def _context_mark(event: BudgetDecision, upcoming: int, last_drop: int) -> ContextMark | None:
    d = event.detail
    if event.action == "window":
        window = _int(d.get("window"))
        return ContextMark(upcoming, "window", window=window) if window else None
    if event.action != "prune":
        return None
    usage = Usage.model_validate(d["usage"]) if isinstance(d.get("usage"), dict) else None
    drop = _int(d.get("drop_before")) or 0
    summary = d.get("summary")
    return ContextMark(
        upcoming,
        "summary" if drop > last_drop or usage is not None else "prune",
        tokens_before=_int(d.get("tokens_before")),
        tokens_after=_int(d.get("tokens_after")),
        hide_before=_int(d.get("hide_before")) or 0,
        elide_before=_int(d.get("elide_before")) or 0,
        drop_before=drop,
        hard=d.get("hard") is True,
        summary=summary if isinstance(summary, str) else "",
        summary_usage=usage,
        summary_cost_usd=_float(d.get("cost_usd")),
    )


def _step_view(record: TurnRecord, window: int) -> StepView:
    event = record.event
    turn = event.turn
    calls = [_call_view(c, record.results.get(c.id), record.effects.get(c.id, [])) for c in turn.tool_calls]
    return StepView(
        step=event.step,
        ts=event.ts,
        elapsed_s=event.elapsed_s,
        reasoning=turn.reasoning,
        content=turn.content,
        calls=calls,
        usage=turn.usage,
        usage_reported=turn.usage_reported,
        cost_usd=turn.cost_usd,
        model=turn.model,
        finish_reason=turn.finish_reason,
        window=window,
        notices=[(n.kind, n.text) for n in record.notices],
    )


def _call_view(call: ToolCall, result: ToolResultEvent | None, effects: list[ToolEffect]) -> CallView:
    view = CallView(id=call.id, name=call.name, arguments=_pretty_arguments(call), parse_error=call.parse_error)
    if result is not None:
        view.result, view.is_error = result.text, result.is_error
        view.duration_s, view.sources = result.duration_s, list(result.sources)
    for effect in effects:
        if isinstance(effect, PlanUpdated):
            why = f": {effect.explanation}" if effect.explanation else ""
            view.effects.append(f"revised the plan{why}")
        elif isinstance(effect, NoteAdded):
            view.effects.append(f"note: {effect.text}")
        elif isinstance(effect, UsageCharged):
            view.child_run = effect.child_run or view.child_run
            who = f"sub-agent {effect.child_run}" if effect.child_run else effect.phase
            view.effects.append(
                f"{who} spent ${effect.cost_usd:.4f} ({effect.usage.prompt_tokens:,} prompt tokens, "
                f"{effect.usage.calls} calls)"
            )
        elif isinstance(effect, CellExecuted):
            state = "ran" if effect.ok else "failed"
            lost = "; the kernel restarted and earlier state is lost" if effect.restarted else ""
            view.effects.append(f"Python cell {state}{lost}")
        elif isinstance(effect, FigureProduced):
            view.effects.append(f"figure: {effect.path}")
    return view


async def _figure(store: Store, figure: FigureProduced) -> Picture | None:
    """The figure as the store keeps it (checked and downscaled when it was saved), else the
    PNG file, read safely, while the run's work dir is still there."""
    if figure.image is not None:
        return await _image(store, figure.image)
    if figure.mime_type != "image/png":
        return None
    data = read_figure(figure.location)
    return Picture("image/png", data) if data is not None and len(data) <= MAX_INLINE_FIGURE else None


async def _image(store: Store, ref: ImageRef) -> Picture | None:
    if ref.mime_type not in IMAGE_TYPES:
        return None
    data = await store.get_blob(ref.key)
    return Picture(ref.mime_type, data) if data is not None and len(data) <= MAX_INLINE_FIGURE else None


def _pretty_arguments(call: ToolCall) -> str:
    if call.parsed is not None:
        return orjson.dumps(call.parsed, option=orjson.OPT_INDENT_2).decode()
    return call.arguments


def _source_index(root: RunView) -> dict[str, list[StepRef]]:
    """For each source id, the steps (of the run and its children) whose results brought it in."""
    found: dict[str, list[StepRef]] = {}
    for run in root.walk():
        for step in run.steps:
            for call in step.calls:
                for source_id in call.sources:
                    refs = found.setdefault(source_id, [])
                    if not any(r.run_index == run.index and r.step == step.step for r in refs):
                        refs.append(StepRef(run.index, run.info.id, step.step, call.name))
    return found


def _report_view(report: Report, sources: dict[str, SourceView], found: dict[str, list[StepRef]]) -> ReportView:
    claims: list[ClaimView] = []
    for claim in report.verification.claims:
        heading = report.sections[claim.section].heading if 0 <= claim.section < len(report.sections) else ""
        citations = []
        for check in claim.citations:
            source = sources.get(check.source_id)
            citations.append(
                CitationView(
                    source_id=check.source_id,
                    verdict=check.verdict,
                    score=check.score,
                    reasons=list(check.reasons),
                    title=source.source.title if source else "",
                    url=source.source.url if source else "",
                    found=found.get(check.source_id, []),
                )
            )
        reasons = why(claim) if claim.verdict != "supported" else ""
        claims.append(ClaimView(heading, claim.sentence, claim.verdict, citations, reasons))
    v = report.verification
    return ReportView(report.title, claims, v.summary(), list(v.removed_citations))


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key: ``run.2`` before ``run.10``."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


__all__ = ["MAX_CHILDREN", "MAX_DEPTH", "gather"]
