"""The PostgreSQL store's full-text index (``search_text``) and run tags.

* ``recall_docs``: one row per indexed piece of text (an event's text or a source's, see
  :mod:`agentkit.store._search`): where it is (run, event ``seq`` or source, which text of the
  event, the character span), kind, step, tool, and its terms as a ``tsvector`` with a GIN
  index. The ``tsvector`` is built here from the terms (a literal cast by the server), so the
  database's parser, locale and dictionaries never change what matches; a piece is a few
  thousand characters, far under the type's 1 MB limit. It also holds a lexeme naming the run
  that no text yields, so a search (``runs & terms``) is answered by the GIN index alone, not
  by reading every piece of the run. No text is stored twice: a hit's snippet is cut from the
  event or source it points to.
* Filled in the transaction that appends the events (or registers the source); a replaced
  source's pieces are replaced with it. Schema 2's migration indexes what a store already
  holds, once.
* ``run_tags``: ``(tag, run_id)``, the tag as UTF-8 bytes (any text, NUL included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from agentkit.store._codec import MissingBlob, decode_event, ref_keys
from agentkit.store._search import (
    Chunk,
    Query,
    TextHit,
    doc_chunks,
    event_docs,
    event_text,
    make_hit,
    pg_match,
    same_text,
    source_doc,
    source_text,
    tsquery,
    tsvector,
)
from agentkit.store.events import Source, TraceEvent

Conn = AsyncConnection[Any]
_BATCH = 500

DDL: tuple[str, ...] = (
    """CREATE TABLE {s}.recall_docs (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id  TEXT COLLATE "C" NOT NULL,
        seq     BIGINT,
        field   INTEGER NOT NULL,
        part    INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        step    INTEGER,
        source  TEXT,
        tool    TEXT,
        start_at INTEGER NOT NULL,
        stop_at  INTEGER NOT NULL,
        terms   TSVECTOR NOT NULL
    )""",
    "CREATE INDEX recall_docs_by_run ON {s}.recall_docs (run_id, source)",
    "CREATE INDEX recall_docs_terms ON {s}.recall_docs USING GIN (terms)",
    """CREATE TABLE {s}.run_tags (
        tag    BYTEA NOT NULL,
        run_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.runs (id),
        PRIMARY KEY (tag, run_id)
    )""",
)
"""Schema 2's tables (besides the back-fill, :func:`backfill`)."""

_INSERT = (
    "INSERT INTO recall_docs (run_id, seq, field, part, kind, step, source, tool, start_at, stop_at, terms) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector)"
)


# -- writing ------------------------------------------------------------------------------


def prepare(events: Sequence[TraceEvent]) -> list[tuple[int, Chunk]]:
    """The index rows of some events (offset in the batch, chunk), computed before their transaction."""
    return [(offset, c) for offset, docs in enumerate(event_docs(events)) for c in doc_chunks(docs)]


async def _insert(conn: Conn, run_id: str, rows: Sequence[tuple[int | None, Chunk]]) -> None:
    if not rows:
        return
    params = [
        (
            run_id,
            seq,
            c.field,
            c.part,
            c.doc.kind,
            c.doc.step,
            c.doc.source,
            c.doc.tool,
            c.start,
            c.end,
            tsvector(c.terms, run_id),
        )
        for seq, c in rows
    ]
    async with conn.cursor() as cur:
        await cur.executemany(_INSERT, params)


async def index_events(conn: Conn, run_id: str, first_seq: int, prepared: Sequence[tuple[int, Chunk]]) -> None:
    """Index appended events (inside the append's transaction)."""
    await _insert(conn, run_id, [(first_seq + offset, c) for offset, c in prepared])


async def index_source(conn: Conn, run_id: str, source: Source, old_row: str | None) -> None:
    """(Re-)index a registered source (inside its transaction, after its row was written): an
    unchanged one is kept. The source's pieces are deleted first even when there was no row
    before: two transactions registering it at once both saw none, and the second replaces
    the first's pieces (it waited for the first's row lock). ``old_row``: the row it replaced."""
    if same_text(_parse_source(old_row), source):
        return
    await conn.execute("DELETE FROM recall_docs WHERE run_id = %s AND source = %s AND seq IS NULL", (run_id, source.id))
    blob = await _blob(conn, source.content_hash)
    await _insert(conn, run_id, [(None, c) for c in doc_chunks([source_doc(source, blob)])])


async def set_tags(conn: Conn, run_id: str, tags: Sequence[str]) -> None:
    await conn.execute("DELETE FROM run_tags WHERE run_id = %s", (run_id,))
    if tags:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO run_tags (tag, run_id) VALUES (%s, %s)",
                [(t.encode(), run_id) for t in dict.fromkeys(tags)],
            )


async def backfill(conn: Conn) -> None:
    """Index every stored event and source (schema 2's migration, in its transaction)."""
    after: tuple[str, int] = ("", 0)
    while True:
        cur = await conn.execute(
            "SELECT run_id, seq, data, refs FROM events WHERE (run_id, seq) > (%s, %s) ORDER BY run_id, seq LIMIT %s",
            (*after, _BATCH),
        )
        rows: list[tuple[str, int, str, str | None]] = await cur.fetchall()
        if not rows:
            break
        after = (rows[-1][0], int(rows[-1][1]))
        blobs = await _blobs(conn, {k for *_x, refs in rows for k in ref_keys(refs)})
        for run_id, batch in _by_run(rows, blobs).items():
            docs = event_docs([e for _s, e in batch])
            chunks = [(seq, c) for (seq, _e), d in zip(batch, docs, strict=True) for c in doc_chunks(d)]
            await _insert(conn, run_id, chunks)
    cur = await conn.execute("SELECT run_id, data FROM sources ORDER BY n")
    for run_id, data in await cur.fetchall():
        source = _parse_source(data)
        if source is not None:  # a damaged row: reading it reports that; the index goes without it
            await index_source(conn, run_id, source, None)


def _parse_source(data: str | None) -> Source | None:
    if data is None:
        return None
    try:
        return Source.model_validate_json(data)
    except ValueError:
        return None


def _by_run(
    rows: list[tuple[str, int, str, str | None]], blobs: dict[str, bytes]
) -> dict[str, list[tuple[int, TraceEvent]]]:
    grouped: dict[str, list[tuple[int, TraceEvent]]] = {}
    for run_id, seq, data, refs in rows:
        try:
            grouped.setdefault(run_id, []).append((int(seq), decode_event(data, refs, blobs)))
        except (ValueError, MissingBlob):
            continue
    return grouped


async def _blobs(conn: Conn, keys: set[str]) -> dict[str, bytes]:
    if not keys:
        return {}
    cur = await conn.execute("SELECT key, data FROM blobs WHERE key = ANY(%s)", (sorted(keys),))
    return {str(k): bytes(d) for k, d in await cur.fetchall()}


async def _blob(conn: Conn, key: str | None) -> bytes | None:
    return (await _blobs(conn, {key})).get(key) if key else None


# -- searching ----------------------------------------------------------------------------


async def search(conn: Conn, run_ids: Sequence[str], query: Query, k: int) -> list[TextHit]:
    cur = await conn.execute(  # the run filter is in the tsquery: the GIN index does all of it
        "SELECT run_id, seq, field, kind, step, source, tool, start_at, stop_at, "
        "ts_rank(terms, CAST(%s AS tsquery)) AS score FROM recall_docs WHERE terms @@ CAST(%s AS tsquery) "
        "ORDER BY score DESC, id LIMIT %s",
        (tsquery(query), pg_match(query, run_ids), k),
    )
    rows = await cur.fetchall()
    events = await _events(conn, {(r[0], int(r[1])) for r in rows if r[1] is not None})
    sources = await _sources(conn, {(r[0], r[5]) for r in rows if r[1] is None})
    hits: list[TextHit] = []
    for run_id, seq, field, kind, step, source, tool, start, stop, score in rows:
        if seq is not None:
            event = events.get((run_id, int(seq)))
            text = None if event is None else event_text(event, field)
        else:
            text = sources.get((run_id, source))
        if text is None:
            continue  # a damaged row: the log reader reports it
        row = {"run_id": run_id, "seq": seq, "kind": kind, "step": step, "source": source, "tool": tool}
        hits.append(make_hit({**row, "start": start, "end": stop}, text, query, float(score)))
    return hits


async def _events(conn: Conn, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], TraceEvent]:
    """The events the hits point into, in one round trip (and one for their blobs)."""
    if not wanted:
        return {}
    runs, seqs = zip(*sorted(wanted), strict=True)
    cur = await conn.execute(
        "SELECT e.run_id, e.seq, e.data, e.refs FROM events e "
        "JOIN unnest(%s::text[], %s::bigint[]) AS w (run_id, seq) ON e.run_id = w.run_id AND e.seq = w.seq",
        (list(runs), list(seqs)),
    )
    rows: list[tuple[str, int, str, str | None]] = await cur.fetchall()
    blobs = await _blobs(conn, {k for *_x, refs in rows for k in ref_keys(refs)})
    out: dict[tuple[str, int], TraceEvent] = {}
    for run_id, seq, data, refs in rows:
        try:
            out[run_id, int(seq)] = decode_event(data, refs, blobs)
        except (ValueError, MissingBlob):
            continue
    return out


async def _sources(conn: Conn, wanted: set[tuple[str, str | None]]) -> dict[tuple[str, str | None], str]:
    """The searchable texts of the sources the hits point into."""
    if not wanted:
        return {}
    runs, ids = zip(*sorted(wanted, key=str), strict=True)
    cur = await conn.execute(
        "SELECT s.run_id, s.data FROM sources s "
        "JOIN unnest(%s::text[], %s::text[]) AS w (run_id, id) ON s.run_id = w.run_id AND s.id = w.id",
        (list(runs), list(ids)),
    )
    parsed: list[tuple[str, Source]] = []
    for run_id, data in await cur.fetchall():
        try:
            parsed.append((run_id, Source.model_validate_json(data)))
        except ValueError:
            continue
    blobs = await _blobs(conn, {s.content_hash for _r, s in parsed if s.content_hash})
    return {(r, s.id): source_text(s, blobs.get(s.content_hash or "")) for r, s in parsed}


async def tagged(conn: Conn, tag: str, limit: int) -> list[str]:
    """The ``data`` of runs tagged ``tag``, newest first."""
    cur = await conn.execute(
        "SELECT r.data FROM runs r JOIN run_tags t ON t.run_id = r.id WHERE t.tag = %s "
        "ORDER BY r.created_at DESC, r.n DESC LIMIT %s",
        (tag.encode(), limit),
    )
    return [str(data) for (data,) in await cur.fetchall()]


__all__ = ["DDL", "backfill", "index_events", "index_source", "prepare", "search", "set_tags", "tagged"]
