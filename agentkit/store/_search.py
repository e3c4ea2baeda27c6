"""Full-text search over runs' traces (``Store.search_text``): what is indexed, how text
becomes search terms, how a query is read, and the snippets shown. Shared by every backend,
so a query finds the same things in SQLite, PostgreSQL and memory.

**What is indexed.** Per event (:func:`event_docs`): a tool result's text (hidden from the
model's view or not), an assistant turn's reasoning, its content and its tool calls, notes,
plans and their revisions, the budget's summaries, the task, the answer and Python cells.
Per source (:func:`source_doc`): the fetched document's full text (its blob). Never a run's
configuration. Each text is indexed in chunks of about :data:`CHUNK_CHARS` characters (a
hit is a chunk), at most :data:`MAX_INDEXED_CHARS` characters of it.

**Terms.** Text is folded (compatibility-decomposed, marks dropped, case-folded: ``Zürich``
is ``zurich``), then split into runs of letters and digits; Chinese, Japanese and Korean
characters are terms of one character each, so a word written without spaces is found as a
phrase of its characters. The backends index these terms as given (SQLite FTS5 over the
terms joined by spaces, PostgreSQL a ``tsvector`` built here), so no backend's own parser,
locale or dictionary changes what matches.

**Queries** are plain words, never a query language: :func:`parse_query` keeps the terms
(each word a term, or a phrase of its characters) and drops everything else, so quotes,
``NEAR(``, ``*``, ``-`` or ``:`` can never be a syntax error. A chunk matches when it holds
any of the query's terms; more and rarer terms rank higher.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from pydantic import BaseModel

from agentkit._text import clean_text
from agentkit.store.events import (
    Aggregated,
    AssistantMessage,
    BudgetDecision,
    CellExecuted,
    NoteAdded,
    PlanUpdated,
    RunFinished,
    RunStarted,
    Source,
    ToolResultEvent,
    TraceEvent,
)

CHUNK_CHARS = 3000
"""A long text is indexed in pieces of about this many characters; a hit is one piece."""
MAX_INDEXED_CHARS = 4_000_000
"""Characters of one text that are indexed (the rest of a larger text is not searchable)."""
SNIPPET_CHARS = 280
"""Characters of text around the matches a hit shows."""
MAX_QUERY_TERMS = 32
MAX_TERM_CHARS = 100
"""Longer runs of letters and digits (base64, hashes) are not search terms."""
MAX_K = 100
NOT_INDEXED_SOURCES = frozenset({"report"})
"""Source kinds whose blob is not a fetched text (the run's own report, as JSON)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")


class TextHit(BaseModel):
    """One match of :meth:`~agentkit.store.base.Store.search_text`: a piece of a run's trace."""

    run_id: str
    seq: int | None = None
    """The event's position in its run's log; ``None`` for a source's text."""
    step: int | None = None
    """The step the text belongs to (a tool call's step for its result, notes and cells)."""
    kind: str
    """``tool_result``, ``reasoning``, ``message``, ``calls``, ``note``, ``plan``, ``summary``,
    ``task``, ``answer``, ``code`` or ``source`` (a fetched document's text)."""
    source_id: str | None = None
    """The source the text came from (a tool result's first source, or the source itself)."""
    tool: str | None = None
    """The tool whose result (or call) this is."""
    snippet: str
    """About :data:`SNIPPET_CHARS` characters around the matches, spaces collapsed."""
    rank: float
    """Higher is better; comparable within one search only."""


# -- what is indexed --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Doc:
    """One searchable text of an event or a source."""

    kind: str
    text: str
    step: int | None = None
    source: str | None = None
    tool: str | None = None


def _texts(event: TraceEvent) -> list[Doc]:
    """The searchable texts of one event, in a fixed order (a hit names its text by index)."""
    if isinstance(event, ToolResultEvent):
        return [Doc("tool_result", event.text, event.step, event.sources[0] if event.sources else None, event.name)]
    if isinstance(event, AssistantMessage):
        turn, step = event.turn, event.step
        calls = "\n".join(f"{c.name}({c.arguments})" for c in turn.tool_calls)
        tools = ", ".join(dict.fromkeys(c.name for c in turn.tool_calls)) or None
        return [
            Doc("reasoning", turn.reasoning, step),
            Doc("message", turn.content, step),
            Doc("calls", calls, step, None, tools),
        ]
    if isinstance(event, NoteAdded):
        return [Doc("note", event.text)]
    if isinstance(event, PlanUpdated):
        why = f"\n\nWhy: {event.explanation}" if event.explanation else ""
        return [Doc("plan", event.plan + why)]
    if isinstance(event, BudgetDecision):
        summary = event.detail.get("summary") if event.action == "prune" else None
        new = "usage" in event.detail  # a summary made for this decision (later ones repeat it)
        return [Doc("summary", summary)] if isinstance(summary, str) and new else []
    if isinstance(event, RunStarted):
        return [Doc("task", event.task)]
    if isinstance(event, RunFinished | Aggregated):
        return [Doc("answer", event.answer)]
    if isinstance(event, CellExecuted):
        return [Doc("code", event.code)]
    return []


def event_docs(events: Sequence[TraceEvent]) -> list[list[Doc | None]]:
    """The searchable texts of each event (``None`` for an empty one, so positions stay fixed).

    A tool call's effects (a note, a plan revision, a cell) are committed just before its
    result, in one batch: they take the result's step."""
    steps = {e.call_id: e.step for e in events if isinstance(e, ToolResultEvent)}
    out: list[list[Doc | None]] = []
    for event in events:
        docs: list[Doc | None] = []
        call = getattr(event, "call_id", None)
        step = steps.get(call) if isinstance(call, str) and not isinstance(event, ToolResultEvent) else None
        for doc in _texts(event):
            text = clean_text(doc.text)
            if not text.strip():
                docs.append(None)
                continue
            docs.append(Doc(doc.kind, text, doc.step if doc.step is not None else step, doc.source, doc.tool))
        out.append(docs)
    return out


def event_text(event: TraceEvent, index: int) -> str:
    """Text number ``index`` of an event (as :func:`event_docs` numbered it), or ``""``."""
    docs = _texts(event)
    return clean_text(docs[index].text) if 0 <= index < len(docs) else ""


def source_text(source: Source, blob: bytes | None) -> str:
    """The searchable text of a source: its title and URL, then the document's text (its blob,
    when that is UTF-8 text; an image's or a binary resource's blob is not)."""
    body = ""
    if blob is not None and source.kind not in NOT_INDEXED_SOURCES:
        try:
            body = blob.decode("utf-8")
        except UnicodeDecodeError:
            body = ""
    head = " ".join(x for x in (source.title.strip(), source.url) if x)
    return clean_text(f"{head}\n\n{body}" if body else head)


def same_text(old: Source | None, new: Source) -> bool:
    """Whether a re-registered source has the same searchable text (nothing to re-index)."""
    return old is not None and (old.title, old.url, old.content_hash, old.kind) == (
        new.title,
        new.url,
        new.content_hash,
        new.kind,
    )


def source_doc(source: Source, blob: bytes | None) -> Doc:
    return Doc("source", source_text(source, blob), None, source.id, None)


# -- terms --------------------------------------------------------------------------------


@cache
def _marks() -> dict[int, None]:
    """A ``str.translate`` table deleting combining marks (built on first use)."""
    return {cp: None for cp in range(0x30000) if unicodedata.category(chr(cp)).startswith("M")}


_ASCII_SPACES = {cp: " " for cp in range(128) if not chr(cp).isalnum()}


@cache
def _spaces() -> dict[int, str]:
    """A ``str.translate`` table turning every character that is not a letter or digit into a
    space (built on first use)."""
    return {cp: " " for cp in range(0x30000) if not chr(cp).isalnum()}


def fold(text: str) -> str:
    """Compatibility-decomposed, marks dropped, recomposed, case-folded."""
    if text.isascii():
        return text.lower()
    bare = unicodedata.normalize("NFKD", text).translate(_marks())
    return unicodedata.normalize("NFC", bare).casefold()  # NFC: Hangul syllables again


def index_text(text: str) -> str:
    """``text`` as its search terms separated by spaces: folded, every character that is not a
    letter or digit a space, a space around each CJK character. (Whole-string operations in C:
    SQLite's FTS5 splits this at the spaces itself; ``split()`` gives the terms.)"""
    folded = fold(text)
    if folded.isascii():
        return folded.translate(_ASCII_SPACES)
    return _CJK_CHAR.sub(r" \g<0> ", folded.translate(_spaces()))


def terms(text: str) -> list[str]:
    """The search terms of a text, in order."""
    return index_text(text).split()


def chunk_spans(text: str, size: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` pieces of ``text`` of about ``size`` characters, cut at
    white space where there is some (at most :data:`MAX_INDEXED_CHARS` characters in all)."""
    n = min(len(text), MAX_INDEXED_CHARS)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(n, start + size)
        if end < n:
            cut = max(text.rfind(" ", start + size // 2, end), text.rfind("\n", start + size // 2, end))
            if cut > start:
                end = cut + 1
        spans.append((start, end))
        start = end
    return spans


@dataclass(frozen=True, slots=True)
class Chunk:
    """One indexed piece: text ``field`` of its event (or the source's text), characters
    ``start:end``, and its terms (``body``: separated by spaces)."""

    field: int
    part: int
    start: int
    end: int
    body: str
    doc: Doc

    @property
    def terms(self) -> list[str]:
        return self.body.split()


def doc_chunks(docs: Iterable[Doc | None]) -> list[Chunk]:
    out: list[Chunk] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        for part, (start, end) in enumerate(chunk_spans(doc.text)):
            body = index_text(doc.text[start:end])
            if not body.isspace() and body:
                out.append(Chunk(index, part, start, end, body, doc))
    return out


def run_token(run_id: str) -> str:
    """A run id as one search term (SQLite filters by run inside the full-text index)."""
    return "r" + hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]


# -- queries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """A query's terms: each group a word (one term) or a phrase (CJK characters in order)."""

    groups: tuple[tuple[str, ...], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.groups

    @property
    def words(self) -> frozenset[str]:
        return frozenset(t for g in self.groups for t in g)


def parse_query(query: str) -> Query:
    """The groups of a query: each word a term; a word with CJK characters, its characters as
    a phrase (a longer run of them as overlapping pairs, so a passage holding more of them
    ranks higher). Words of more than :data:`MAX_TERM_CHARS` characters are dropped."""
    groups: dict[tuple[str, ...], None] = {}
    folded = fold(clean_text(query))
    for word in folded.translate(_ASCII_SPACES if folded.isascii() else _spaces()).split():
        found = _CJK_CHAR.sub(r" \g<0> ", word).split()
        if len(found) == 1 and len(word) > MAX_TERM_CHARS:
            continue
        pairs = [tuple(found[i : i + 2]) for i in range(len(found) - 1)] if len(found) > 2 else [tuple(found)]
        for group in pairs:
            groups.setdefault(group, None)
        if len(groups) >= MAX_QUERY_TERMS:
            break
    return Query(tuple(groups)[:MAX_QUERY_TERMS])


def fts5_match(query: Query, run_ids: Iterable[str]) -> str:
    """An FTS5 ``MATCH`` expression over the ``run`` and ``body`` columns. Terms hold only
    letters and digits, so quoting them as strings is exact."""
    runs = " OR ".join(run_token(r) for r in run_ids)
    body = " OR ".join('"' + " ".join(g) + '"' for g in query.groups)
    return f"run : ({runs}) AND body : ({body})"


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(query: Query) -> str:
    """A PostgreSQL ``tsquery`` literal (any term, phrases as ``<->``)."""
    return " | ".join(
        _lexeme(g[0]) if len(g) == 1 else "(" + " <-> ".join(_lexeme(t) for t in g) + ")" for g in query.groups
    )


def pg_run_lexeme(run_id: str) -> str:
    """A run id as a lexeme no text yields (terms are letters and digits only): PostgreSQL's GIN
    index then finds a run's matching pieces by itself, not by reading all of the run's."""
    return "run#" + run_token(run_id)


def pg_match(query: Query, run_ids: Iterable[str]) -> str:
    """A ``tsquery`` literal: any of the runs and any of the query's terms."""
    runs = " | ".join(_lexeme(pg_run_lexeme(r)) for r in run_ids)
    return f"({runs}) & ({tsquery(query)})"


def tsvector(found: Sequence[str], run_id: str | None = None) -> str:
    """A PostgreSQL ``tsvector`` literal of terms in order (positions 1.., as the server
    keeps them: at most 256 per term, none above 16383), and the run's lexeme (no position)."""
    positions: dict[str, list[int]] = {}
    for i, term in enumerate(found, 1):
        if len(term) > MAX_TERM_CHARS:
            continue  # the server refuses very long lexemes; no query asks for one
        at = positions.setdefault(term, [])
        if len(at) < 256:
            at.append(min(i, 16383))
    lexemes = [f"{_lexeme(t)}:{','.join(map(str, sorted(set(p))))}" for t, p in positions.items()]
    return " ".join([_lexeme(pg_run_lexeme(run_id)), *lexemes] if run_id is not None else lexemes)


# -- snippets -----------------------------------------------------------------------------


def snippet(text: str, query: Query, width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around its densest cluster of query terms,
    spaces collapsed, with ``…`` where it was cut."""
    wanted = query.words
    hits: list[tuple[int, int, str]] = []  # (start, end, term) of words holding a query term
    for m in _WORD.finditer(text):
        for term in terms(m.group()):
            if term in wanted:
                hits.append((m.start(), m.end(), term))
                break
    start = 0
    if hits:
        best, best_count = 0, 0
        for i, (s, _e, _t) in enumerate(hits):
            count = len({t for s2, _e2, t in hits[i:] if s2 < s + width * 3 // 4})
            if count > best_count:
                best, best_count = i, count
        start = max(0, hits[best][0] - width // 5)
        space = text.rfind(" ", max(0, start - 20), start)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start + width // 2, end)
        end = space if space > start else end
    body = _SPACE.sub(" ", text[start:end]).strip()
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


# -- the scan (the memory store; any store without an index) -----------------------------


@dataclass(slots=True)
class _Entry:
    run_id: str
    seq: int | None
    chunk: Chunk
    terms: list[str]
    counts: Counter[str]


@dataclass
class ScanIndex:
    """Chunks of runs' traces kept in memory and searched by a scan with BM25 ranking."""

    _runs: dict[str, list[_Entry]] = field(default_factory=dict)
    _sources: dict[tuple[str, str], list[_Entry]] = field(default_factory=dict)

    def add_events(self, run_id: str, first_seq: int, events: Sequence[TraceEvent]) -> None:
        entries = self._runs.setdefault(run_id, [])
        for offset, docs in enumerate(event_docs(events)):
            entries += [_entry(run_id, first_seq + offset, c) for c in doc_chunks(docs)]

    def set_source(self, run_id: str, source: Source, blob: bytes | None) -> None:
        chunks = doc_chunks([source_doc(source, blob)])
        self._sources[run_id, source.id] = [_entry(run_id, None, c) for c in chunks]

    def search(self, run_ids: Iterable[str], query: Query, k: int) -> list[TextHit]:
        wanted = set(run_ids)
        pool = [e for r in wanted for e in self._runs.get(r, [])]
        pool += [e for (r, _s), entries in self._sources.items() if r in wanted for e in entries]
        return rank_entries(pool, query, k)


def _entry(run_id: str, seq: int | None, chunk: Chunk) -> _Entry:
    found = chunk.terms
    return _Entry(run_id, seq, chunk, found, Counter(found))


def _phrase_count(found: Sequence[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    return sum(1 for i in range(len(found) - n + 1) if tuple(found[i : i + n]) == phrase)


def rank_entries(pool: Sequence[_Entry], query: Query, k: int, k1: float = 1.2, b: float = 0.75) -> list[TextHit]:
    """BM25 over the chunks in ``pool``; the best ``k`` as hits."""
    if query.empty or not pool or k <= 0:
        return []
    freqs: list[dict[tuple[str, ...], int]] = []
    for e in pool:
        tf = {g: (e.counts[g[0]] if len(g) == 1 else _phrase_count(e.terms, g)) for g in query.groups}
        freqs.append(tf)
    n = len(pool)
    avg = sum(len(e.terms) for e in pool) / n
    df = {g: sum(1 for tf in freqs if tf[g]) for g in query.groups}
    scored: list[tuple[float, _Entry]] = []
    for e, tf in zip(pool, freqs, strict=True):
        score = 0.0
        for g, f in tf.items():
            if f:
                idf = math.log(1 + (n - df[g] + 0.5) / (df[g] + 0.5))
                score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(e.terms) / avg))
        if score > 0:
            scored.append((score, e))
    scored.sort(key=lambda x: (-x[0], x[1].run_id, x[1].seq if x[1].seq is not None else -1, x[1].chunk.start))
    return [_hit(e.run_id, e.seq, e.chunk.doc, _piece(e.chunk), query, s) for s, e in scored[:k]]


def _piece(chunk: Chunk) -> str:
    return chunk.doc.text[chunk.start : chunk.end]


def _hit(run_id: str, seq: int | None, doc: Doc, piece: str, query: Query, rank: float) -> TextHit:
    return TextHit(
        run_id=run_id,
        seq=seq,
        step=doc.step,
        kind=doc.kind,
        source_id=doc.source,
        tool=doc.tool,
        snippet=snippet(piece, query),
        rank=rank,
    )


def make_hit(row: Mapping[str, object], text: str, query: Query, rank: float) -> TextHit:
    """A hit from an index row (``run_id``, ``seq``, ``kind``, ``step``, ``source``, ``tool``,
    ``start``, ``end``) and the full text it points into."""
    start, end = int(str(row["start"])), int(str(row["end"]))
    doc = Doc(
        str(row["kind"]),
        text,
        _int_or_none(row["step"]),
        None if row["source"] is None else str(row["source"]),
        None if row["tool"] is None else str(row["tool"]),
    )
    return _hit(str(row["run_id"]), _int_or_none(row["seq"]), doc, text[start:end], query, rank)


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


__all__ = [
    "CHUNK_CHARS",
    "MAX_INDEXED_CHARS",
    "MAX_K",
    "SNIPPET_CHARS",
    "Chunk",
    "Doc",
    "Query",
    "ScanIndex",
    "TextHit",
    "chunk_spans",
    "doc_chunks",
    "event_docs",
    "event_text",
    "fold",
    "fts5_match",
    "make_hit",
    "parse_query",
    "pg_match",
    "pg_run_lexeme",
    "rank_entries",
    "run_token",
    "same_text",
    "snippet",
    "source_doc",
    "source_text",
    "terms",
    "tsquery",
    "tsvector",
]
