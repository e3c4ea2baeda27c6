"""HTML pieces of the trace page: the timeline (steps, tool calls, context and plan marks) and
the cards of child runs. Every stored string goes through :func:`esc` or :func:`text_block`;
attributes hold only anchors built from indexes."""

from __future__ import annotations

import base64
import datetime as _dt
import difflib
import html

from agentkit.view.model import (
    CallView,
    ContextMark,
    Marker,
    Picture,
    PlanRevision,
    RunView,
    StepView,
    run_anchor,
)

MAX_TEXT = 20_000
"""Characters of one text (reasoning, arguments, a result) the page shows; the store keeps all."""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def text_block(text: str, cls: str = "") -> str:
    """Stored text shown verbatim (escaped), cut at :data:`MAX_TEXT` characters."""
    shown = text if len(text) <= MAX_TEXT else text[:MAX_TEXT]
    more = (
        f"\n\n[… {len(text) - MAX_TEXT:,} more characters; the full text: agentkit show RUN_ID --json]"
        if len(text) > MAX_TEXT
        else ""
    )
    klass = f' class="{cls}"' if cls else ""
    return f"<pre{klass}>{esc(shown + more)}</pre>"


def tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def money(value: float) -> str:
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"


def when(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "unknown"


def status_badge(status: str) -> str:
    return f'<span class="badge status-{esc(status)}">{esc(status)}</span>'


def picture(image: Picture, alt: str) -> str:
    """An image inlined as a ``data:`` URI (its type is one of :data:`IMAGE_TYPES`)."""
    b64 = base64.b64encode(image.data).decode("ascii")
    return f'<div class="fig"><img src="data:{image.mime_type};base64,{b64}" alt="{esc(alt)}"></div>'


class Links:
    """Page-wide anchors for source ids and run ids (both are stored text: only mapped, never
    put into an attribute themselves)."""

    def __init__(self, root: RunView) -> None:
        self.sources = {s.source.id: f"src-{i}" for i, s in enumerate(root.sources)}
        self.runs = {run.info.id: run for run in root.walk()}

    def source(self, source_id: str) -> str:
        anchor = self.sources.get(source_id)
        return f'<a href="#{anchor}">{esc(source_id)}</a>' if anchor else f"<code>{esc(source_id)}</code>"

    def run(self, run_id: str) -> str:
        run = self.runs.get(run_id)
        if run is None:
            return f"<code>{esc(run_id)}</code>"
        return f'<a href="#{run_anchor(run.index)}">{esc(run.label)}</a> <code>{esc(run_id)}</code>'


def timeline(run: RunView, links: Links) -> str:
    """The run's steps in order, with what happened between them: plan revisions, context
    prunes and summaries, harness notices, errors and status changes."""
    between: dict[int, list[str]] = {}  # in the order they happen after a step's calls
    for i, plan in enumerate(run.plans):
        if plan.step:  # a revision shows after the step whose call made it
            previous = run.plans[i - 1].plan if i else ""
            between.setdefault(plan.step + 1, []).append(_plan_mark(plan, previous))
    for marker in run.markers:
        between.setdefault(marker.before_step, []).append(_marker(marker))
    for mark in run.context_marks:  # made while the next request was built
        between.setdefault(mark.before_step, []).append(context_mark(mark))
    out: list[str] = []
    for step in run.steps:
        out.extend(between.pop(step.step, []))
        out.append(step_html(run, step, links))
    for key in sorted(between):  # after the last step (a run in progress, an end)
        out.extend(between[key])
    if not run.steps:
        out.append('<p class="meta">No steps recorded yet.</p>')
    return f'<div class="timeline">{"".join(out)}</div>'


def step_html(run: RunView, step: StepView, links: Links) -> str:
    names = " · ".join(esc(c.name) for c in step.calls) or ("answer" if step.content.strip() else "(no call)")
    tags = []
    if any(c.is_error for c in step.calls):
        tags.append('<span class="tag err">error</span>')
    if any(c.result is None for c in step.calls):
        tags.append('<span class="tag">running</span>')
    if not step.calls and step.content.strip():
        tags.append('<span class="tag ans">reply</span>')
    share = step.cached_share
    window = f" / {tokens(step.window)}" if step.window else ""
    summary = (
        f'<summary><span class="sn">step {step.step}</span><span class="tools">{names}</span>{"".join(tags)}'
        f'<span class="num">{tokens(step.context_tokens)}{window} ctx</span>'
        f'<span class="num">{money(step.cost_usd)}</span>'
        f'<span class="num">{"–" if share is None else f"{share:.0%}"} cached</span></summary>'
    )
    body = []
    if step.reasoning.strip():
        body.append("<h4>Reasoning</h4>" + text_block(step.reasoning))
    if step.content.strip():
        body.append("<h4>Reply</h4>" + text_block(step.content))
    body.extend(_call_html(call, links) for call in step.calls)
    for kind, text in step.notices:
        body.append(f'<div class="mark notice"><b>{esc(kind)}</b> (harness message to the model)</div>')
        body.append(text_block(text))
    u = step.usage
    estimated = "" if step.usage_reported else " (estimated: the server sent no usage)"
    body.append(
        f'<p class="meta">prompt {u.prompt_tokens:,} tokens ({u.cached_tokens:,} cached) · completion '
        f"{u.completion_tokens:,} ({u.reasoning_tokens:,} reasoning){estimated} · {money(step.cost_usd)} · "
        f"model {esc(step.model or '?')} · finish {esc(step.finish_reason or '?')} · "
        f"at {step.elapsed_s:.1f} s · {when(step.ts)}</p>"
    )
    anchor = f"{run_anchor(run.index)}-s{step.step}"
    return f'<details class="step" id="{anchor}">{summary}<div class="body">{"".join(body)}</div></details>'


def _call_html(call: CallView, links: Links) -> str:
    head = f"<h3>{esc(call.name)} <code>{esc(call.id)}</code>"
    if call.result is not None:
        head += f' <span class="num">{call.duration_s:.2f} s</span>'
    head += "</h3>"
    parts = [head]
    if call.parse_error:
        parts.append(f'<p class="tag err">arguments did not parse: {esc(call.parse_error)}</p>')
    parts.append(f"<details><summary>arguments</summary>{text_block(call.arguments)}</details>")
    if call.result is None:
        parts.append('<p class="meta">no result yet</p>')
    else:
        label = "error" if call.is_error else "result"
        parts.append(f"<details><summary>{label} ({len(call.result):,} characters)</summary>{text_block(call.result)}")
        parts.append("</details>")
    if call.effects:
        parts.append('<ul class="effects">' + "".join(f"<li>{esc(e)}</li>" for e in call.effects) + "</ul>")
    parts.extend(picture(p, "figure saved by this call") for p in call.figures)
    if call.sources:
        parts.append('<p class="meta">sources: ' + ", ".join(links.source(s) for s in call.sources) + "</p>")
    if call.child_run:
        parts.append(f'<p class="meta">sub-agent: {links.run(call.child_run)}</p>')
    klass = "call error" if call.is_error else "call"
    return f'<div class="{klass}">{"".join(parts)}</div>'


def context_mark(mark: ContextMark) -> str:
    where = f"before step {mark.before_step}"
    if mark.kind == "window":
        text = f"Window: the server has {mark.window:,} tokens; requests use it from {where}."
        return f'<div class="mark window">{text}</div>'
    sizes = ""
    if mark.tokens_before is not None and mark.tokens_after is not None:
        sizes = f" ~{tokens(mark.tokens_before)} → ~{tokens(mark.tokens_after)} tokens;"
    what = []
    if mark.hide_before:
        what.append(f"tool results of steps 1–{mark.hide_before} hidden")
    if mark.elide_before:
        what.append(f"reasoning of steps 1–{mark.elide_before} elided")
    if mark.drop_before:
        what.append(f"steps 1–{mark.drop_before} replaced by a summary")
    hard = " (the provider had said the request was too long)" if mark.hard else ""
    text = (
        f"{'Summary' if mark.kind == 'summary' else 'Prune'} {where}:{sizes} {', '.join(what) or 'view changed'}{hard}"
    )
    if mark.kind == "summary" and mark.summary:
        cost = f" · summary call {money(mark.summary_cost_usd)}" if mark.summary_usage else ""
        return f'<details class="mark summary"><summary>{esc(text)}{cost}</summary>{text_block(mark.summary)}</details>'
    return f'<div class="mark {mark.kind}">{esc(text)}</div>'


def _marker(marker: Marker) -> str:
    if not marker.body:
        return f'<div class="mark {marker.kind}">{esc(marker.title)}</div>'
    return (
        f'<details class="mark {marker.kind}"><summary>{esc(marker.title)}</summary>{text_block(marker.body)}</details>'
    )


def _plan_mark(plan: PlanRevision, previous: str) -> str:
    why = f": {plan.explanation}" if plan.explanation else ""
    return (
        f'<details class="mark plan"><summary>Plan revised at step {plan.step}{esc(why)}</summary>'
        f"{plan_diff(previous, plan.plan)}</details>"
    )


def plan_diff(previous: str, current: str) -> str:
    """The plan as a line diff against the previous revision (added lines green, removed struck)."""
    lines = []
    for line in difflib.ndiff(previous.splitlines(), current.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "? ":
            continue
        cls = {"+ ": "add", "- ": "del"}.get(tag)
        lines.append(f'<span class="{cls}">{esc(text)}</span>' if cls else esc(text) + "\n")
    return f'<pre class="diff">{"".join(lines)}</pre>'


def child_card(child: RunView, number: int, links: Links, *, chosen: bool) -> str:
    info = child.info
    peak = max((s.context_tokens for s in child.steps), default=0)
    lines = [
        f"<h3><span>#{number} {esc(child.label)}</span>{status_badge(info.status)}</h3>",
        f'<p class="meta mono">{esc(info.id)}</p>',
        f'<p class="meta"><b>{len(child.steps)}</b> steps · <b>{child.tool_calls}</b> tool calls · '
        f"<b>{money(child.cost_usd)}</b> · context peak <b>{tokens(peak)}</b></p>",
    ]
    if chosen:
        lines.append('<p><span class="tag ans">chosen by the aggregator</span></p>')
    if info.stop_reason:
        lines.append(f'<p class="meta">{esc(info.stop_reason)}</p>')
    if child.answer.strip():
        lines.append("<h4>Answer</h4>" + text_block(child.answer))
    if child.steps:
        lines.append(
            f'<details class="steps"><summary>{len(child.steps)} steps</summary>{timeline(child, links)}</details>'
        )
    if child.children:
        cards = "".join(child_card(k, i, links, chosen=False) for i, k in enumerate(child.children, 1))
        lines.append(
            f'<details class="steps"><summary>{len(child.children)} child run(s)</summary>'
            f'<div class="children nested">{cards}</div></details>'
        )
    if child.children_omitted:
        more = ", ".join(f"<code>{esc(k.id)}</code>" for k in child.children_omitted)
        lines.append(f'<p class="meta">more child runs (view each with agentkit view ID): {more}</p>')
    klass = "card chosen" if chosen else "card"
    return f'<div class="{klass}" id="{child.anchor}">{"".join(lines)}</div>'
