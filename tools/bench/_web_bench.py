"""Research-tool benchmarks: page fetching/extraction on real saved pages, local search latency.

    python tools/bench/_web_bench.py [PAGES_DIR EXPECTED_JSON]

``bench_fetch`` serves the saved pages of ``../shared/fixtures/webpages`` from a loopback
HTTP server, reads every one through ``FetchTool`` and scores the extraction against
``expected.json`` (``with``: text that must be kept, ``without``: boilerplate that must be
dropped). ``bench_search`` builds a synthetic offline index and times queries.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from agentkit.store import MemoryStore, RunInfo
from agentkit.tools._index import build_index, search_index
from agentkit.tools.base import ToolContext
from agentkit.tools.fetch import FetchArgs, FetchCache, FetchTool
from agentkit.tools.web_search import LocalBackend, WebSearchArgs, WebSearchTool

ROOT = Path(__file__).resolve().parents[2]
SHARED_PAGES = ROOT.parent / "shared" / "fixtures" / "webpages"
CONCURRENCY = 8


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _PageServer:
    """Serves ``/p/<n>`` → the bytes of page n as ``text/html`` (no charset: as saved)."""

    def __init__(self, pages: list[bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                m = re.fullmatch(r"/p/(\d+)", self.path)
                if m is None or int(m.group(1)) >= len(pages):
                    self.send_error(404)
                    return
                body = pages[int(m.group(1))]
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _normalise(text: str) -> str:
    """Whitespace collapsed and markdown emphasis removed, for snippet matching."""
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return " ".join(text.split())


async def _new_ctx(store: MemoryStore, run_id: str) -> ToolContext:
    await store.create_run(RunInfo(id=run_id, task="bench"))
    return ToolContext(run_id=run_id, call_id="bench", step=0, store=store, workdir=Path("."))


async def _full_text(ctx: ToolContext, source_id: str) -> str:
    source = await ctx.store.get_source(ctx.run_id, source_id)
    if source is None or not source.content_hash:
        return ""
    blob = await ctx.store.get_blob(source.content_hash)
    return blob.decode("utf-8") if blob else ""


def _load_pages(pages_dir: Path, expected_json: Path) -> tuple[list[dict[str, Any]], list[bytes]]:
    expected: dict[str, dict[str, Any]] = json.loads(expected_json.read_text("utf-8"))
    entries = [e for e in expected.values() if (pages_dir / e["file"]).is_file()]
    return entries, [(pages_dir / e["file"]).read_bytes() for e in entries]


def _index_size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.glob("index.sqlite*")) / 1_048_576


async def bench_fetch(pages_dir: Path, expected_json: Path) -> dict[str, Any]:
    """Fetch every saved page through ``FetchTool`` (sequentially, for the per-page latency,
    then ``CONCURRENCY`` at a time, for throughput) and score the extracted text."""
    entries, pages = await anyio.to_thread.run_sync(_load_pages, Path(pages_dir), Path(expected_json))
    with _PageServer(pages) as server:
        urls = [f"http://127.0.0.1:{server.port}/p/{i}" for i in range(len(pages))]

        # sequential: latency per page, and the texts to score
        tool = FetchTool(allow_private_hosts=True, cache=FetchCache())
        ctx = await _new_ctx(MemoryStore(), "sequential")
        latencies: list[float] = []
        texts: list[str] = []
        errors: list[str] = []
        seq_started = time.perf_counter()
        for i, url in enumerate(urls):
            started = time.perf_counter()
            out = await tool.invoke(FetchArgs(url=url), ctx)
            latencies.append((time.perf_counter() - started) * 1000)
            if out.is_error:
                errors.append(f"{entries[i]['file']}: {out.text}")
                texts.append("")
            else:
                texts.append(await _full_text(ctx, out.sources[0]))
        seq_seconds = time.perf_counter() - seq_started
        await tool.aclose()

        # concurrent: throughput with a fresh tool and cache
        tool = FetchTool(allow_private_hosts=True, cache=FetchCache())
        ctx = await _new_ctx(MemoryStore(), "concurrent")
        limiter = anyio.CapacityLimiter(CONCURRENCY)

        async def one(url: str) -> None:
            async with limiter:
                await tool.invoke(FetchArgs(url=url), ctx)

        conc_started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for url in urls:
                tg.start_soon(one, url)
        conc_seconds = time.perf_counter() - conc_started
        await tool.aclose()

    with_total = with_found = without_total = without_dropped = 0
    for entry, text in zip(entries, texts, strict=True):
        norm = _normalise(text)
        for snippet in entry.get("with") or []:
            with_total += 1
            with_found += _normalise(snippet) in norm
        for snippet in entry.get("without") or []:
            without_total += 1
            without_dropped += _normalise(snippet) not in norm
    return {
        "pages": len(pages),
        "errors": len(errors),
        "error_examples": errors[:5],
        "pages_per_s": round(len(pages) / conc_seconds, 2),
        "pages_per_s_sequential": round(len(pages) / seq_seconds, 2),
        "concurrency": CONCURRENCY,
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "with_found": round(with_found / with_total, 3) if with_total else None,
        "without_dropped": round(without_dropped / without_total, 3) if without_total else None,
        "with_total": with_total,
        "without_total": without_total,
    }


def _synthetic_corpus(root: Path, n_docs: int, seed: int = 7) -> list[str]:
    """``n_docs`` markdown/text files over a Zipf-like vocabulary; returns the vocabulary."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(6000)})
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    for i in range(n_docs):
        words = rng.choices(vocab, weights, k=rng.randint(200, 900))
        paragraphs = [" ".join(words[j : j + 60]) + "." for j in range(0, len(words), 60)]
        title = " ".join(rng.choices(vocab[200:], k=4)).title()
        suffix = ".md" if i % 2 else ".txt"
        body = (f"# {title}\n\n" if suffix == ".md" else f"{title}\n\n") + "\n\n".join(paragraphs) + "\n"
        (root / f"doc{i:05d}{suffix}").write_text(body)
    return vocab


async def bench_search(n_docs: int = 2000, n_queries: int = 200) -> dict[str, Any]:
    """Build a synthetic local index of ``n_docs`` documents and time queries (the index
    alone, and through ``web_search`` with source registration)."""
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="agentkit-search-bench-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index.sqlite"
        corpus.mkdir()
        vocab = _synthetic_corpus(corpus, n_docs)
        stats = await anyio.to_thread.run_sync(build_index, corpus, index)
        reindex = await anyio.to_thread.run_sync(build_index, corpus, index)
        queries = [" ".join(rng.choices(vocab[50:3000], k=rng.randint(2, 4))) for _ in range(n_queries)]
        index_ms: list[float] = []
        for q in queries:
            started = time.perf_counter()
            search_index(index, q, 10)
            index_ms.append((time.perf_counter() - started) * 1000)
        tool = WebSearchTool([LocalBackend(index)])
        ctx = await _new_ctx(MemoryStore(), "search")
        tool_ms: list[float] = []
        for q in queries[:100]:
            started = time.perf_counter()
            await tool.invoke(WebSearchArgs(query=q, max_results=10), ctx)
            tool_ms.append((time.perf_counter() - started) * 1000)
        size_mb = await anyio.to_thread.run_sync(_index_size_mb, Path(tmp))
    return {
        "docs": stats.documents,
        "chunks": stats.chunks,
        "build_s": round(stats.seconds, 2),
        "noop_reindex_s": round(reindex.seconds, 3),
        "index_mb": round(size_mb, 1),
        "median_query_ms": round(statistics.median(index_ms), 2),
        "p95_query_ms": round(_percentile(index_ms, 0.95), 2),
        "median_tool_ms": round(statistics.median(tool_ms), 2),
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    pages_dir = Path(args[0]) if args else SHARED_PAGES / "pages"
    expected = Path(args[1]) if len(args) > 1 else SHARED_PAGES / "expected.json"
    if pages_dir.is_dir() and expected.is_file():
        result = anyio.run(bench_fetch, pages_dir, expected)
        print("fetch:", json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(f"fetch: skipped ({pages_dir} not found)")
    print("search:", json.dumps(anyio.run(bench_search), indent=1))


if __name__ == "__main__":
    main()
