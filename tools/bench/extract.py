"""Main-text extraction quality: agentkit's ``fetch`` beside trafilatura's defaults.

    python tools/bench/extract.py [--zyte DIR] [--pages DIR] [--diff N] [--json]
    python tools/bench/extract.py --pack-zyte DIR [--pack-count N]

Datasets (each scored when present):

- ``zyte``: Zyte's article-extraction-benchmark (saved news/blog pages with the article
  body a person marked). By default the deterministic subset committed in
  ``tools/bench/data/zyte-subset.tar.xz`` (see the README there); ``--zyte DIR`` reads a
  checkout of github.com/scrapinghub/article-extraction-benchmark instead (all 181 pages).
  Scored as that benchmark scores: shingles of four ``\\w+`` tokens, per-page true/false
  positives normalised to sum 1, and the mean precision and recall over pages; F1 from them.
- ``trafilatura-eval``: the saved real pages of ``../shared/fixtures/webpages`` (trafilatura's
  evaluation data: per page, snippets a good extraction keeps, ``with``, and boilerplate it
  drops, ``without``), or ``--pages DIR`` holding ``expected.json`` and ``pages/``. Recall is
  the share of ``with`` snippets found, cleanliness the share of ``without`` snippets absent.

Systems: ``agentkit`` is the text ``fetch`` stores for a page: ``extract()`` of
``agentkit/tools/_extract.py`` called as the tool calls it, then cut into pages by
``paginate`` and joined again (so paging is part of what is measured);
``trafilatura`` is ``trafilatura.extract(html_bytes, url=url)`` with its defaults.
Both texts are compared after the same normalisation (markdown emphasis markers and
whitespace runs do not count as text). CPU time per page is printed beside the scores.
``--diff N`` lists the N pages where agentkit keeps the least compared with trafilatura.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import re
import statistics
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agentkit.tools._extract import ExtractionError, extract, paginate  # noqa: E402
from agentkit.tools.fetch import DEFAULT_PAGE_CHARS  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
ZYTE_ARCHIVE = DATA / "zyte-subset.tar.xz"
# ../shared beside the main checkout (/work/main), or two levels up from a worktree (/work/wt/NAME)
SHARED_PAGES = (
    next(
        (p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if (p / "fixtures" / "webpages").is_dir()),
        ROOT.parent / "shared",
    )
    / "fixtures"
    / "webpages"
)
PACK_COUNT = 60

Extractor = Callable[[bytes, str], str]


@dataclass
class Page:
    key: str
    url: str
    html: bytes
    body: str | None = None  # zyte: the expected article body
    keep: tuple[str, ...] = ()  # trafilatura-eval: snippets to keep
    drop: tuple[str, ...] = ()  # trafilatura-eval: boilerplate to drop


# -- the two systems ------------------------------------------------------------------------


def agentkit_text(html: bytes, url: str) -> str:
    """What ``fetch`` stores and pages for a saved page served as ``text/html``."""
    try:
        doc = extract(html, "text/html", url, None)
    except ExtractionError:
        return ""
    return "\n\n".join(paginate(doc.text, DEFAULT_PAGE_CHARS))


def trafilatura_text(html: bytes, url: str) -> str:
    import trafilatura

    try:
        return str(trafilatura.extract(html, url=url) or "")
    except Exception:  # a library failure on one page scores as an empty extraction
        return ""


SYSTEMS: dict[str, Extractor] = {"agentkit": agentkit_text, "trafilatura": trafilatura_text}


# -- scoring ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")
_MARKUP = re.compile(r"\*+|`+|(?<!\w)__|__(?!\w)")


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def shingle_counts(expected: str, got: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over 4-token shingles, normalised to sum 1 (each page weighs the same)."""
    want, have = _shingles(expected), _shingles(got)
    tp, fp, fn = sum((want & have).values()), sum((have - want).values()), sum((want - have).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def zyte_scores(counts: list[tuple[float, float, float]]) -> dict[str, float]:
    """Mean precision (over pages with a prediction) and recall (over pages with a body)."""
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


def normalise(text: str) -> str:
    """Whitespace runs and markdown emphasis/code markers removed, for snippet matching."""
    return " ".join(_MARKUP.sub("", text).split())


def page_recall(page: Page, text: str) -> float:
    if page.body is not None:
        return _recall(*shingle_counts(page.body, text))
    norm = normalise(text)
    return sum(normalise(s) in norm for s in page.keep) / len(page.keep) if page.keep else 1.0


# -- datasets -------------------------------------------------------------------------------


def zyte_pages(source: Path | None) -> Iterator[Page]:
    """Pages of Zyte's benchmark: a checkout (``html/*.html.gz``) or the committed subset."""
    if source is not None:
        truth = json.loads((source / "ground-truth.json").read_text("utf-8"))
        for key in sorted(truth):
            html = gzip.decompress((source / "html" / f"{key}.html.gz").read_bytes())
            yield Page(key, truth[key].get("url") or "", html, body=truth[key].get("articleBody") or "")
        return
    with tarfile.open(ZYTE_ARCHIVE, "r:xz") as tar:
        files = {m.name: m for m in tar.getmembers() if m.isfile()}
        truth_file = tar.extractfile(files["ground-truth.json"])
        assert truth_file is not None
        truth = json.load(truth_file)
        for key in sorted(truth):
            member = tar.extractfile(files[f"html/{key}.html"])
            assert member is not None
            yield Page(key, truth[key].get("url") or "", member.read(), body=truth[key].get("articleBody") or "")


def eval_pages(source: Path) -> Iterator[Page]:
    expected: dict[str, dict[str, Any]] = json.loads((source / "expected.json").read_text("utf-8"))
    for url, entry in expected.items():
        path = source / "pages" / entry["file"]
        if path.is_file():
            keep, drop = tuple(entry.get("with") or ()), tuple(entry.get("without") or ())
            yield Page(entry["file"], url, path.read_bytes(), keep=keep, drop=drop)


# -- running --------------------------------------------------------------------------------


def run_dataset(pages: list[Page]) -> dict[str, Any]:
    """Every system on every page: scores, CPU per page, and per-page recall."""
    out: dict[str, Any] = {"pages": len(pages), "systems": {}}
    for name, fn in SYSTEMS.items():
        texts: list[str] = []
        started = time.process_time()
        for page in pages:
            texts.append(fn(page.html, page.url))
        cpu_ms = (time.process_time() - started) * 1000 / max(1, len(pages))
        if pages and pages[0].body is not None:
            scores = zyte_scores([shingle_counts(p.body or "", t) for p, t in zip(pages, texts, strict=True)])
        else:
            kept = found = dropped = junk = 0
            for page, text in zip(pages, texts, strict=True):
                norm = normalise(text)
                kept += len(page.keep)
                found += sum(normalise(s) in norm for s in page.keep)
                junk += len(page.drop)
                dropped += sum(normalise(s) not in norm for s in page.drop)
            scores = {"recall": found / max(1, kept), "cleanliness": dropped / max(1, junk)}
            scores |= {"snippets": kept, "boilerplate": junk}
        scores["cpu_ms_per_page"] = cpu_ms
        scores["empty"] = sum(1 for t in texts if not t.strip())
        out["systems"][name] = scores | {"_recalls": [page_recall(p, t) for p, t in zip(pages, texts, strict=True)]}
    return out


def _print_dataset(name: str, result: dict[str, Any], diff: int, pages: list[Page]) -> None:
    systems = result["systems"]
    clean = "precision" if "precision" in systems["agentkit"] else "cleanliness"
    print(f"\n{name}: {result['pages']} pages")
    print(f"  {'':12} {'recall':>8} {clean:>12} {'F1':>7} {'empty':>6} {'CPU ms/page':>12}")
    for sys_name, s in systems.items():
        f1 = f"{s['f1']:.3f}" if "f1" in s else "-"
        print(
            f"  {sys_name:12} {s['recall']:>8.3f} {s[clean]:>12.3f} {f1:>7} {s['empty']:>6} "
            f"{s['cpu_ms_per_page']:>12.1f}"
        )
    a, t = systems["agentkit"], systems["trafilatura"]
    verdict = "at or above" if a["recall"] >= t["recall"] else "BELOW"
    print(f"  agentkit recall {a['recall'] - t['recall']:+.3f} vs trafilatura's defaults ({verdict})")
    if diff:
        gaps = sorted(zip(a["_recalls"], t["_recalls"], pages, strict=True), key=lambda g: g[0] - g[1])
        for ak, tr, page in gaps[:diff]:
            if ak < tr:
                print(f"    {ak - tr:+.3f}  agentkit {ak:.3f}  trafilatura {tr:.3f}  {page.key}")


def pack_zyte(source: Path, count: int) -> None:
    """Write ``zyte-subset.tar.xz``: the first ``count`` page ids in sorted order (ids are
    SHA-256 digests, so this is an unbiased sample), decompressed, with their ground truth."""
    truth = json.loads((source / "ground-truth.json").read_text("utf-8"))
    keys = sorted(truth)[:count]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=9) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))

        subset = {k: truth[k] for k in keys}
        add("ground-truth.json", json.dumps(subset, ensure_ascii=False, indent=1, sort_keys=True).encode())
        for key in keys:
            add(f"html/{key}.html", gzip.decompress((source / "html" / f"{key}.html.gz").read_bytes()))
    ZYTE_ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    ZYTE_ARCHIVE.write_bytes(buf.getvalue())
    print(f"wrote {ZYTE_ARCHIVE} ({len(keys)} pages, {len(buf.getvalue()) / 1_048_576:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--zyte", type=Path, help="a checkout of scrapinghub/article-extraction-benchmark")
    parser.add_argument("--pages", type=Path, help="a folder with expected.json and pages/ (trafilatura-eval)")
    parser.add_argument("--diff", type=int, default=0, help="list the N pages agentkit loses most on")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pack-zyte", type=Path, metavar="DIR", help="write the committed subset from DIR")
    parser.add_argument("--pack-count", type=int, default=PACK_COUNT)
    args = parser.parse_args(argv)
    if args.pack_zyte:
        pack_zyte(args.pack_zyte, args.pack_count)
        return 0
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    datasets: dict[str, list[Page]] = {}
    zyte_name = "zyte (full)" if args.zyte else "zyte (committed subset)"
    datasets[zyte_name] = list(zyte_pages(args.zyte))
    eval_dir = args.pages or SHARED_PAGES
    if (eval_dir / "expected.json").is_file():
        datasets["trafilatura-eval"] = list(eval_pages(eval_dir))
    elif not args.json:
        print(f"(trafilatura-eval skipped: no {eval_dir / 'expected.json'})")
    results = {name: run_dataset(pages) for name, pages in datasets.items()}
    if args.json:
        for result in results.values():
            for s in result["systems"].values():
                s.pop("_recalls")
        print(json.dumps(results, indent=1))
        return 0
    import trafilatura

    print(f"trafilatura {trafilatura.__version__}; agentkit pages of {DEFAULT_PAGE_CHARS:,} characters")
    for name, result in results.items():
        _print_dataset(name, result, args.diff, datasets[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
