"""Write a research report from a stored run: outline, sections, numbered verified citations."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentkit._redact import mask_model
from agentkit.llm.types import Model, ModelRequest, Usage
from agentkit.report.cite import Numbering, iter_claims, rewrite, strip_sentinels
from agentkit.report.models import ClaimCheck, Reference, Report, ReportSection, Verification
from agentkit.report.verify import (
    SourceText,
    check_sentence,
    is_conclusion,
    judge_citation,
    uncited_claim,
    unsourced_numbers,
)
from agentkit.store.base import Store
from agentkit.store.events import CellExecuted, Source
from agentkit.store.fold import RunState, load_state

MAX_SECTIONS = 8
EXCERPT_CHARS = 220
REPORT_KIND = "report"

_SYSTEM = (
    "You write sections of a research report from an agent's findings. Use only the given "
    "material. Cite every factual sentence with the ids of the sources that support it, in square "
    "brackets, e.g. [S1a2b3c4d]. Never invent ids, never number citations, never add a reference list."
)


@dataclass
class RunMaterial:
    """Everything a report is written from, read from the store (no network)."""

    run_id: str
    task: str = ""
    plan: str = ""
    notes: list[str] = field(default_factory=list)
    answer: str = ""
    sources: dict[str, Source] = field(default_factory=dict)
    texts: dict[str, SourceText | None] = field(default_factory=dict)
    python_outputs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


async def gather(store: Store, run_id: str) -> RunMaterial:
    """The run's material; a heavy run's or a delegating run's child runs add their notes,
    Python outputs and figures (their sources were already copied to the parent)."""
    state = await load_state(store, run_id)
    answer = state.finished.answer if state.finished else ""
    if not answer:
        answer = (await store.get_run(run_id)).answer or ""
    material = RunMaterial(
        run_id=run_id, task=state.task, plan=state.plan or "", notes=list(state.notes), answer=answer
    )
    _add_python_results(material, state)
    await _add_descendants(store, run_id, material, depth=3)
    material.figures = list(dict.fromkeys(material.figures))
    for source in await store.list_sources(run_id):
        if source.kind == REPORT_KIND:
            continue
        source = source.model_copy(update={"title": strip_sentinels(source.title)})
        material.sources[source.id] = source
        blob = await store.get_blob(source.content_hash) if source.content_hash else None
        material.texts[source.id] = SourceText(blob.decode("utf-8", "replace")) if blob else None
    return material


def _add_python_results(material: RunMaterial, state: RunState) -> None:
    """The output of every result that ran a Python cell, and the PNG figures the run saved."""
    for record in state.records:
        for call_id, result in record.results.items():
            if any(isinstance(e, CellExecuted) for e in record.effects.get(call_id, ())):
                material.python_outputs.append(result.text)
    material.figures.extend(f.location for f in state.figures if f.mime_type == "image/png")


async def _add_descendants(store: Store, run_id: str, material: RunMaterial, *, depth: int) -> None:
    if depth <= 0:
        return
    for child in reversed(await store.list_runs(parent_id=run_id, limit=10_000)):  # oldest first
        state = await load_state(store, child.id)
        label = child.label or child.id
        material.notes.extend(f"({label}) {note}" for note in state.notes)
        _add_python_results(material, state)
        await _add_descendants(store, child.id, material, depth=depth - 1)


def parse_outline(text: str) -> list[str]:
    """Section headings from a JSON list or numbered/bulleted lines (robust to chatter)."""
    text = re.sub(r"```\w*", "", text)
    match = re.search(r"\[.*\]", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
        except ValueError:
            data = None
        if isinstance(data, list):
            items = [d.get("heading") or d.get("title") if isinstance(d, dict) else d for d in data]
            headings = [_clean_heading(str(h)) for h in items if h]
            if any(headings):
                return _dedupe(headings)
    lines = [line for line in text.splitlines() if line.strip()]
    listed = [line for line in lines if re.match(r"\s*(?:\d+[.)]|[-*+]|#{1,6})\s+", line)]
    candidates = listed or [line for line in lines if not line.rstrip().endswith(":")]
    return _dedupe([_clean_heading(line) for line in candidates])


def _clean_heading(line: str) -> str:
    line = re.sub(r"^\s*(?:\d+[.)]|[-*+]|#{1,6})\s+", "", line.strip())
    line = line.strip().strip("*_\"'`").strip()
    line = re.sub(r"^(?:section\s+\d+\s*[:.-]\s*)", "", line, flags=re.IGNORECASE)
    return strip_sentinels(line)[:120]


def _dedupe(headings: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for h in headings:
        if h and h.casefold() not in seen and h.casefold() not in {"references", "sources", "bibliography"}:
            seen[h.casefold()] = h
    return list(seen.values())[:MAX_SECTIONS]


def clean_section(text: str, heading: str) -> str:
    """Drop a repeated heading and any reference list the model wrote; demote inner headings."""
    text = strip_sentinels(text).strip()
    text = re.sub(r"^```(?:markdown|md)?\s*\n(.*)\n```$", r"\1", text, flags=re.DOTALL).strip()
    lines = text.splitlines()
    if lines and (lines[0].lstrip().startswith("#") or lines[0].strip().strip("*#: ").casefold() == heading.casefold()):
        lines = lines[1:]
    out: list[str] = []
    for line in lines:
        if re.match(r"^\s*(?:#{1,6}\s*|\*\*)(?:references|sources|bibliography|works cited)\b", line, re.IGNORECASE):
            break
        out.append(re.sub(r"^#{1,3}(?=\s)", "###", line))
    return "\n".join(out).strip() + "\n"


def _material_text(m: RunMaterial, *, sources: bool) -> str:
    parts = [f"Task: {m.task.strip()}"]
    if m.plan.strip():
        parts.append(f"Plan:\n{_clip(m.plan, 1200)}")
    if m.notes:
        parts.append("Notes:\n" + "\n".join(f"- {_clip(n, 400)}" for n in m.notes[-30:]))
    if m.answer.strip():
        parts.append(f"Final answer of the run:\n{_clip(m.answer, 4000)}")
    if sources:
        lines = []
        for sid, src in m.sources.items():
            text = m.texts.get(sid)
            excerpt = _clip(" ".join(text.text.split()), EXCERPT_CHARS) if text else "(no stored text)"
            lines.append(f"[{sid}] {_clip(src.title or src.url, 120)}: {excerpt}")
        parts.append("Sources (cite only these ids):\n" + ("\n".join(lines) if lines else "(none)"))
    return "\n\n".join(parts)


def _clip(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class _Meter:
    def __init__(self) -> None:
        self.usage = Usage()
        self.cost = 0.0

    def add(self, usage: Usage, cost: float) -> None:
        self.usage = self.usage + usage
        self.cost += cost


async def _ask(model: Model, prompt: str, meter: _Meter) -> str:
    turn = await model.complete(
        ModelRequest(messages=[{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}])
    )
    meter.add(turn.usage, turn.cost_usd)
    return turn.content


async def write_report(
    store: Store, run_id: str, model: Model, *, title: str | None = None, judge: Model | None = None
) -> Report:
    """Write a report on run ``run_id``: one outline call, then one call per section.

    ``judge`` (optional) is asked yes/no for each citation the lexical check doubts.
    """
    material = await gather(store, run_id)
    meter = _Meter()
    title = strip_sentinels(title or _default_title(material.task))
    outline_prompt = (
        _material_text(material, sources=False) + "\n\nPropose the outline of a report titled "
        f"\u201c{title}\u201d: 3 to 6 section headings. Answer with a JSON list of strings only."
    )
    headings = parse_outline(await _ask(model, outline_prompt, meter)) or ["Findings"]
    context = _material_text(material, sources=True)
    raw_sections: list[ReportSection] = []
    for heading in headings:
        prompt = (
            f"{context}\n\nReport: \u201c{title}\u201d. Sections: "
            + "; ".join(headings)
            + f"\n\nWrite the section \u201c{heading}\u201d in markdown (no heading line, 1-4 paragraphs or a "
            "list). Cite source ids like [S1a2b3c4d] after each factual sentence."
        )
        raw_sections.append(
            ReportSection(heading=heading, raw=clean_section(await _ask(model, prompt, meter), heading))
        )
    report = await assemble(material, title, raw_sections, judge=judge, meter=meter)
    return report


def _default_title(task: str) -> str:
    first = task.strip().splitlines()[0] if task.strip() else "Research report"
    return _clip(first, 100)


async def assemble(
    material: RunMaterial,
    title: str,
    sections: list[ReportSection],
    *,
    judge: Model | None = None,
    meter: _Meter | None = None,
) -> Report:
    """Number citations, verify every cited sentence, flag the factual sentences that cite
    nothing, and render the final markdown (removed citations leave a mark in the text)."""
    from agentkit.report.render import marking_numbers, md_marker, md_uncited, render_markdown

    meter = meter or _Meter()
    numbering = Numbering(material.sources.keys())
    for section in sections:
        numbering.scan(section.raw)
    claims: list[ClaimCheck] = []
    places: list[tuple[int, int]] = []  # (section, segment) of each claim, to keep text order
    flagged: dict[tuple[int, int], set[str]] = {}
    uncited: list[tuple[int, int, str]] = []
    sentences: list[str] = []
    for s_index, section in enumerate(sections):
        for index, seg in iter_claims(section.raw):
            sentences.append(seg.plain)
            ids = [sid for sid in seg.source_ids if sid in numbering.numbers]
            if not ids:
                uncited.append((s_index, index, seg.plain))
                continue
            checks = check_sentence(seg.plain, ids, material.texts)
            if judge is not None:
                for check in checks:
                    text = material.texts.get(check.source_id)
                    if check.verdict != "supported" and text is not None and text.text.strip():
                        yes, usage, cost = await judge_citation(judge, seg.plain, text.text)
                        meter.add(usage, cost)
                        check.judged = yes
                        check.verdict = "supported" if yes else "unsupported"
                        check.reasons.append(f"judge: {'yes' if yes else 'no'}")
            claims.append(ClaimCheck(section=s_index, sentence=seg.plain, citations=checks))
            places.append((s_index, index))
            flagged[(s_index, index)] = {c.source_id for c in checks if c.verdict == "unsupported"}
    cited = [c.sentence for c in claims]
    unmarked: set[tuple[int, int]] = set()
    for s_index, index, sentence in uncited:
        conclusion = is_conclusion(sections[s_index].heading)
        if uncited_claim(sentence, conclusion=conclusion, cited=cited, computed=material.python_outputs):
            claims.append(ClaimCheck(section=s_index, sentence=sentence))  # no citation: unsupported
            places.append((s_index, index))
            unmarked.add((s_index, index))
    claims = [claim for _, claim in sorted(zip(places, claims, strict=True), key=lambda pc: pc[0])]
    marks, gone = marking_numbers(numbering.numbers, numbering.removed)
    for s_index, section in enumerate(sections):
        section.markdown = rewrite(
            section.raw,
            marks,
            lambda i, sid, s=s_index: sid in flagged.get((s, i), set()),  # type: ignore[misc]
            md_marker(gone),
            lambda i, text, s=s_index: md_uncited(text) if (s, i) in unmarked else text,  # type: ignore[misc]
        )
    corpus = [t.text for t in material.texts.values() if t is not None] + material.python_outputs + [material.task]
    verification = Verification(
        claims=claims, removed_citations=numbering.removed, unsourced_numbers=unsourced_numbers(sentences, corpus)
    )
    references = [
        Reference(
            number=n,
            source_id=sid,
            title=material.sources[sid].title,
            url=material.sources[sid].url,
            retrieved_at=material.sources[sid].retrieved_at,
        )
        for sid, n in sorted(numbering.numbers.items(), key=lambda kv: kv[1])
    ]
    report = Report(
        run_id=material.run_id,
        title=title,
        markdown="",
        sections=sections,
        references=references,
        verification=verification,
        figures=material.figures,
        usage=meter.usage,
        cost_usd=meter.cost,
        created_at=time.time(),
    )
    report.markdown = render_markdown(report)
    return mask_model(report)  # a key the model echoed into a section is no report's business
