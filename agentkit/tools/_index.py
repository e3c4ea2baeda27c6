"""Offline search corpus: a folder of documents indexed into SQLite FTS5 (bm25 + snippets).

``build_index(DIR, INDEX)`` indexes .md, .txt, .html and .pdf files (text extracted like the
``fetch`` tool does) and is incremental: files whose size and mtime are unchanged are
skipped, files whose content hash is unchanged are not re-extracted, deleted files leave
the index. ``search_index`` is what the ``local`` search backend runs (in a thread).
Documents are split into chunks of about 1,500 characters at paragraph boundaries, so a
hit's snippet comes from the passage that matched; results are one per document.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from agentkit.tools._extract import ExtractionError, decode_text, extract_html, extract_pdf

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf"})
CHUNK_CHARS = 1_500
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunk(
    id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, seq INTEGER NOT NULL, title TEXT NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_doc ON chunk(doc_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(
    title, body, content='chunk', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
"""
_TERM = re.compile(r"\w+", re.UNICODE)
_MD_TITLE = re.compile(r"^\s{0,3}#{1,2}\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass
class IndexStats:
    """What one ``build_index`` call did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """``(relative path, reason)`` of files that could not be indexed."""
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0


@dataclass
class IndexHit:
    path: str
    """Relative to the indexed folder, with ``/`` separators."""
    title: str
    snippet: str
    score: float
    text: str | None = None


def build_index(source_dir: Path, index_path: Path) -> IndexStats:
    """Index (or re-index incrementally) the documents under ``source_dir`` into ``index_path``."""
    started = time.perf_counter()
    source_dir = Path(source_dir)
    index_path = Path(index_path)
    if not source_dir.is_dir():
        raise NotADirectoryError(f"{source_dir} is not a folder")
    index_path.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time (an eval's concurrent runs of one task file, two CLI runs): a second
    # builder waits, then finds the documents indexed, instead of inserting them again.
    with open(index_path.with_name(index_path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(source_dir, index_path, started)


def _build(source_dir: Path, index_path: Path, started: float) -> IndexStats:
    stats = IndexStats()
    index_resolved = index_path.resolve()
    with closing(_connect(index_path)) as db:
        known = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in db.execute("SELECT path, id, mtime_ns, size, sha256 FROM docs")
        }
        seen: set[str] = set()
        for file in _walk(source_dir):
            if file.resolve() == index_resolved:
                continue
            rel = file.relative_to(source_dir).as_posix()
            seen.add(rel)
            try:
                st = file.stat()
                old = known.get(rel)
                if old is not None and old[1] == st.st_mtime_ns and old[2] == st.st_size:
                    stats.unchanged += 1
                    continue
                data = file.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                if old is not None and old[3] == digest:
                    db.execute("UPDATE docs SET mtime_ns=?, size=? WHERE id=?", (st.st_mtime_ns, st.st_size, old[0]))
                    stats.unchanged += 1
                    continue
                title, text, kind = _extract_file(file, data)
            except (OSError, ExtractionError, ValueError) as exc:
                stats.failed.append((rel, str(exc) or type(exc).__name__))
                continue
            with db:
                if old is not None:
                    _delete_doc(db, old[0])
                cur = db.execute(
                    "INSERT INTO docs(path, mtime_ns, size, sha256, title, kind, indexed_at) VALUES(?,?,?,?,?,?,?)",
                    (rel, st.st_mtime_ns, st.st_size, digest, title, kind, time.time()),
                )
                doc_id = cur.lastrowid
                for seq, body in enumerate(_chunks(text)):
                    cid = db.execute(
                        "INSERT INTO chunk(doc_id, seq, title, body) VALUES(?,?,?,?)", (doc_id, seq, title, body)
                    ).lastrowid
                    db.execute("INSERT INTO chunk_fts(rowid, title, body) VALUES(?,?,?)", (cid, title, body))
            if old is None:
                stats.added += 1
            else:
                stats.updated += 1
        with db:
            for rel, (doc_id, *_rest) in known.items():
                if rel not in seen:
                    _delete_doc(db, doc_id)
                    stats.removed += 1
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('source_dir', ?)", (str(source_dir.resolve()),))
        db.commit()
        stats.documents = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        stats.chunks = db.execute("SELECT count(*) FROM chunk").fetchone()[0]
    stats.seconds = time.perf_counter() - started
    return stats


def search_index(index_path: Path, query: str, limit: int = 10, *, with_text: bool = True) -> list[IndexHit]:
    """The best ``limit`` documents for ``query`` (any of its words; bm25, titles weigh 4×)."""
    terms = list(dict.fromkeys(t.lower() for t in _TERM.findall(query)))[:32]
    if not terms:
        return []
    if not Path(index_path).is_file():
        raise FileNotFoundError(f"no search index at {index_path}")
    match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
    uri = Path(index_path).resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        rows = db.execute(
            "SELECT c.doc_id, bm25(chunk_fts, 4.0, 1.0) AS score, "
            "snippet(chunk_fts, 1, '**', '**', '…', 32) FROM chunk_fts "
            "JOIN chunk c ON c.id = chunk_fts.rowid WHERE chunk_fts MATCH ? ORDER BY score LIMIT ?",
            (match, limit * 8),
        ).fetchall()
        best: dict[int, tuple[float, str]] = {}
        for doc_id, score, snippet in rows:
            if doc_id not in best:
                best[doc_id] = (score, snippet)
            if len(best) >= limit:
                break
        hits: list[IndexHit] = []
        for doc_id, (score, snippet) in best.items():
            row = db.execute("SELECT path, title FROM docs WHERE id=?", (doc_id,)).fetchone()
            if row is None:
                continue
            text = None
            if with_text:
                text = "".join(
                    b for (b,) in db.execute("SELECT body FROM chunk WHERE doc_id=? ORDER BY seq", (doc_id,))
                )
            hits.append(IndexHit(path=row[0], title=row[1], snippet=" ".join(snippet.split()), score=-score, text=text))
    return hits


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        db.execute("INSERT INTO meta(key, value) VALUES('schema', ?)", (SCHEMA_VERSION,))
        db.commit()
    elif row[0] != SCHEMA_VERSION:
        raise ValueError(f"{path} is a search index of another version ({row[0]}); delete it to rebuild")
    return db


def _delete_doc(db: sqlite3.Connection, doc_id: int) -> None:
    for cid, title, body in db.execute("SELECT id, title, body FROM chunk WHERE doc_id=?", (doc_id,)).fetchall():
        db.execute("INSERT INTO chunk_fts(chunk_fts, rowid, title, body) VALUES('delete', ?, ?, ?)", (cid, title, body))
    db.execute("DELETE FROM chunk WHERE doc_id=?", (doc_id,))
    db.execute("DELETE FROM docs WHERE id=?", (doc_id,))


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
            yield path


def _extract_file(path: Path, data: bytes) -> tuple[str, str, str]:
    """``(title, text, kind)`` of one corpus file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        pdf = extract_pdf(data)
        return (pdf.title if pdf.title != "PDF document" else path.stem), pdf.text, "pdf"
    if suffix in (".html", ".htm"):
        page = extract_html(data, path.as_uri())
        return page.title or path.stem, page.text, "html"
    text, _ = decode_text(data)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise ExtractionError("empty file")
    title = ""
    if suffix in (".md", ".markdown"):
        m = _MD_TITLE.search(text[:5000])
        title = m.group(1) if m else ""
    if not title:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        title = first.lstrip("#").strip()[:120] if len(first) <= 120 else path.stem
    return title or path.stem, text, "text"


def _chunks(text: str) -> list[str]:
    """Pieces of about ``CHUNK_CHARS`` that concatenate back to ``text`` exactly."""
    pieces = re.split(r"(?<=\n\n)", text)
    out: list[str] = []
    buf = ""
    for piece in pieces:
        while len(piece) > 2 * CHUNK_CHARS:  # one huge paragraph: cut at a space
            cut = piece.rfind(" ", CHUNK_CHARS // 2, CHUNK_CHARS) + 1 or CHUNK_CHARS
            if buf:
                out.append(buf)
                buf = ""
            out.append(piece[:cut])
            piece = piece[cut:]
        if buf and len(buf) + len(piece) > CHUNK_CHARS:
            out.append(buf)
            buf = ""
        buf += piece
    if buf:
        out.append(buf)
    return out or [text]
