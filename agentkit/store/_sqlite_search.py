"""The SQLite store's full-text index (``search_text``) and run tags, on the store's writer
and reader connections (worker threads).

* ``recall_docs``: one row per indexed piece of text (an event's text or a source's, see
  :mod:`agentkit.store._search`) saying where it is: run, event ``seq`` (``NULL`` for a
  source), which text of the event, the character span, kind, step, source and tool.
* ``recall_fts``: a contentless FTS5 table over the pieces' terms and a term naming the run,
  so a search is filtered by run inside the index. It stores no text: a hit's snippet is cut
  from the event or source it points to, so the index does not hold every page twice.
* Filled in the transaction that appends the events (or registers the source), so the index
  never misses a committed event; a replaced source's old pieces are deleted with it.
* Built once for a store made before it (schema 3's migration, or :func:`ensure_index` when
  a SQLite without FTS5 migrated the file). A SQLite library without FTS5 (rare: CPython's
  builds and the usual system libraries have it) keeps no index: ``search_text`` then scans.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from agentkit.store._codec import MissingBlob, decode_event, ref_keys
from agentkit.store._search import (
    Chunk,
    Query,
    TextHit,
    doc_chunks,
    event_docs,
    event_text,
    fts5_match,
    make_hit,
    run_token,
    same_text,
    source_doc,
    source_text,
)
from agentkit.store.events import Source, TraceEvent

_BATCH = 500
DOCS_TABLE = """CREATE TABLE recall_docs (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    seq    INTEGER,
    field  INTEGER NOT NULL,
    part   INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    step   INTEGER,
    source TEXT,
    tool   TEXT,
    start  INTEGER NOT NULL,
    stop   INTEGER NOT NULL
)"""
DOCS_BY_SOURCE = "CREATE INDEX recall_docs_by_source ON recall_docs (run_id, source) WHERE seq IS NULL"
FTS_TABLE = (
    "CREATE VIRTUAL TABLE recall_fts USING fts5(run, body, content='', tokenize='unicode61 remove_diacritics 0')"
)
TAGS_TABLE = """CREATE TABLE run_tags (
    tag    TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    PRIMARY KEY (tag, run_id)
)"""


@cache
def fts5_available() -> bool:
    """Whether this process's SQLite library has FTS5."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def has_index(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'recall_fts'").fetchone()
    return row is not None


def has_tags(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'run_tags'").fetchone() is not None


def create_tables(conn: sqlite3.Connection) -> None:
    """Schema 3's tables (inside the migration's transaction); the index is filled from the
    store's events and sources when this SQLite has FTS5."""
    conn.execute(DOCS_TABLE)
    conn.execute(DOCS_BY_SOURCE)
    conn.execute(TAGS_TABLE)
    if fts5_available():
        conn.execute(FTS_TABLE)
        backfill(conn)


def ensure_index(conn: sqlite3.Connection) -> bool:
    """Whether this writer indexes; builds the index of a store migrated by a SQLite without
    FTS5 (autocommit connection, schema 3 or later)."""
    if has_index(conn):
        return True
    if not fts5_available():
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not has_index(conn):  # another process may have built it meanwhile
            conn.execute("DELETE FROM recall_docs")
            conn.execute(FTS_TABLE)
            backfill(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


# -- writing ------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """The index rows of some events, computed before their transaction."""

    chunks: list[tuple[int, Chunk]]  # (offset of the event in its batch, chunk)


def prepare(events: Sequence[TraceEvent]) -> Prepared:
    return Prepared([(offset, c) for offset, docs in enumerate(event_docs(events)) for c in doc_chunks(docs)])


def _next_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'recall_docs'").fetchone()
    return (int(row[0]) if row else 0) + 1


def _insert(conn: sqlite3.Connection, run_id: str, rows: list[tuple[int | None, Chunk]]) -> None:
    if not rows:
        return
    first = _next_id(conn)
    token = run_token(run_id)
    conn.executemany(
        "INSERT INTO recall_docs (id, run_id, seq, field, part, kind, step, source, tool, start, stop) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (first + i, run_id, seq, c.field, c.part, c.doc.kind, c.doc.step, c.doc.source, c.doc.tool, c.start, c.end)
            for i, (seq, c) in enumerate(rows)
        ],
    )
    conn.executemany(
        "INSERT INTO recall_fts (rowid, run, body) VALUES (?, ?, ?)",
        [(first + i, token, c.body) for i, (_seq, c) in enumerate(rows)],
    )


def index_events(conn: sqlite3.Connection, run_id: str, first_seq: int, prepared: Prepared) -> None:
    """Index appended events (inside the append's transaction)."""
    _insert(conn, run_id, [(first_seq + offset, c) for offset, c in prepared.chunks])


def index_source(conn: sqlite3.Connection, run_id: str, source: Source, old_row: str | None) -> None:
    """(Re-)index a registered source (inside its transaction; ``old_row``: the row it replaced):
    an unchanged one is kept."""
    old = _parse_source(old_row)
    if same_text(old, source):
        return
    if old is not None:
        _delete_source(conn, run_id, old)
    elif old_row is not None:  # a damaged row replaced: its pieces go (their index terms stay, unreachable)
        conn.execute("DELETE FROM recall_docs WHERE run_id = ? AND source = ? AND seq IS NULL", (run_id, source.id))
    _insert(conn, run_id, [(None, c) for c in doc_chunks([source_doc(source, _blob(conn, source))])])


def _delete_source(conn: sqlite3.Connection, run_id: str, old: Source) -> None:
    rows = conn.execute(
        "SELECT id, part FROM recall_docs WHERE run_id = ? AND source = ? AND seq IS NULL ORDER BY part",
        (run_id, old.id),
    ).fetchall()
    if not rows:
        return
    # A contentless FTS5 row is deleted with the terms it was given: the old text's.
    chunks = {c.part: c for c in doc_chunks([source_doc(old, _blob(conn, old))])}
    token = run_token(run_id)
    conn.executemany(
        "INSERT INTO recall_fts (recall_fts, rowid, run, body) VALUES ('delete', ?, ?, ?)",
        [(ident, token, chunks[part].body) for ident, part in rows if part in chunks],
    )  # (were the old text's blob gone, its rows stay in the index, pointing at no piece)
    conn.execute("DELETE FROM recall_docs WHERE run_id = ? AND source = ? AND seq IS NULL", (run_id, old.id))


def _parse_source(data: str | None) -> Source | None:
    if data is None:
        return None
    try:
        return Source.model_validate_json(data)
    except ValueError:
        return None


def _blob(conn: sqlite3.Connection, source: Source) -> bytes | None:
    if not source.content_hash:
        return None
    row = conn.execute("SELECT data FROM blobs WHERE key = ?", (source.content_hash,)).fetchone()
    return None if row is None else bytes(row[0])


def set_tags(conn: sqlite3.Connection, run_id: str, tags: Sequence[str]) -> None:
    conn.execute("DELETE FROM run_tags WHERE run_id = ?", (run_id,))
    conn.executemany("INSERT INTO run_tags (tag, run_id) VALUES (?, ?)", [(t, run_id) for t in dict.fromkeys(tags)])


def backfill(conn: sqlite3.Connection) -> None:
    """Index every stored event and source (once, when the index is created)."""
    after: tuple[str, int] = ("", 0)
    while True:
        rows: list[tuple[str, int, str, str | None]] = conn.execute(
            "SELECT run_id, seq, data, refs FROM events WHERE (run_id, seq) > (?, ?) ORDER BY run_id, seq LIMIT ?",
            (*after, _BATCH),
        ).fetchall()
        if not rows:
            break
        after = (rows[-1][0], rows[-1][1])
        blobs = _blobs(conn, {k for *_x, refs in rows for k in ref_keys(refs)})
        for run_id, batch in _by_run(rows, blobs):
            docs = event_docs([e for _s, e in batch])
            _insert(conn, run_id, [(seq, c) for (seq, _e), d in zip(batch, docs, strict=True) for c in doc_chunks(d)])
    for run_id, data in conn.execute("SELECT run_id, data FROM sources ORDER BY rowid").fetchall():
        source = _parse_source(data)
        if source is not None:  # a damaged row: reading it reports that; the index goes without it
            index_source(conn, run_id, source, None)


def _blobs(conn: sqlite3.Connection, keys: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), _BATCH):
        chunk = ordered[i : i + _BATCH]
        marks = ", ".join("?" * len(chunk))
        found.update(
            (k, bytes(d)) for k, d in conn.execute(f"SELECT key, data FROM blobs WHERE key IN ({marks})", chunk)
        )
    return found


def _by_run(
    rows: list[tuple[str, int, str, str | None]], blobs: dict[str, bytes]
) -> Iterator[tuple[str, list[tuple[int, TraceEvent]]]]:
    """Decoded events grouped by run (rows are ordered by run); damaged ones are left out."""
    current: str | None = None
    batch: list[tuple[int, TraceEvent]] = []
    for run_id, seq, data, refs in rows:
        if run_id != current:
            if current is not None and batch:
                yield current, batch
            current, batch = run_id, []
        try:
            batch.append((seq, decode_event(data, refs, blobs)))
        except (ValueError, MissingBlob):
            continue
    if current is not None and batch:
        yield current, batch


# -- searching ----------------------------------------------------------------------------


def search(conn: sqlite3.Connection, run_ids: Sequence[str], query: Query, k: int) -> list[TextHit]:
    rows = conn.execute(
        "SELECT d.run_id, d.seq, d.field, d.kind, d.step, d.source, d.tool, d.start, d.stop, "
        "bm25(recall_fts, 0.0, 1.0) AS score FROM recall_fts JOIN recall_docs d ON d.id = recall_fts.rowid "
        "WHERE recall_fts MATCH ? ORDER BY score, d.id LIMIT ?",
        (fts5_match(query, run_ids), k),
    ).fetchall()
    hits: list[TextHit] = []
    texts: dict[tuple[str, int | None, int, str | None], str | None] = {}  # hits often share a text
    for run_id, seq, field, kind, step, source, tool, start, stop, score in rows:
        where = (run_id, seq, field, source)
        if where not in texts:
            texts[where] = (
                _event_text(conn, run_id, seq, field) if seq is not None else _source_text(conn, run_id, source)
            )
        text = texts[where]
        if text is None:
            continue  # a damaged row: the log reader reports it
        row = {"run_id": run_id, "seq": seq, "kind": kind, "step": step, "source": source, "tool": tool}
        hits.append(make_hit({**row, "start": start, "end": stop}, text, query, -float(score)))
    return hits


def _event_text(conn: sqlite3.Connection, run_id: str, seq: int, field: int) -> str | None:
    row = conn.execute("SELECT data, refs FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)).fetchone()
    if row is None:
        return None
    try:
        return event_text(decode_event(row[0], row[1], _blobs(conn, set(ref_keys(row[1])))), field)
    except (ValueError, MissingBlob):
        return None


def _source_text(conn: sqlite3.Connection, run_id: str, source_id: str | None) -> str | None:
    row = conn.execute("SELECT data FROM sources WHERE run_id = ? AND id = ?", (run_id, source_id)).fetchone()
    if row is None:
        return None
    try:
        source = Source.model_validate_json(row[0])
    except ValueError:
        return None
    return source_text(source, _blob(conn, source))


def tagged(conn: sqlite3.Connection, select: str, tag: str, limit: int) -> list[tuple[object, ...]]:
    """Rows of runs tagged ``tag`` (``select`` is the store's run select), newest first."""
    rows: list[tuple[object, ...]] = conn.execute(
        f"{select} WHERE id IN (SELECT run_id FROM run_tags WHERE tag = ?) "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (tag, limit),
    ).fetchall()
    return rows


__all__ = [
    "Prepared",
    "backfill",
    "create_tables",
    "ensure_index",
    "fts5_available",
    "has_index",
    "has_tags",
    "index_events",
    "index_source",
    "prepare",
    "search",
    "set_tags",
    "tagged",
]
