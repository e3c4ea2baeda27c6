"""Research-tool figures: kernel cold start and warm round trip, fetch + extract throughput
and quality on the saved real pages in ../shared/fixtures/webpages (when present), and
search latency on an offline index.

    python tools/bench/tools.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT
from _kernel_bench import bench_kernel
from _web_bench import bench_fetch, bench_search

PAGES = ROOT.parent / "shared" / "fixtures" / "webpages"


async def main_async() -> None:
    k = await bench_kernel(20)
    print(
        f"python kernel ({'bubblewrap' if k['sandboxed'] else 'rlimits only'}): cold start "
        f"{k['cold_start_s'] * 1000:.0f} ms, warm round trip {k['warm_roundtrip_s'] * 1000:.1f} ms, "
        f"pool hand-over {k['pool_handover_s'] * 1000:.1f} ms (medians)"
    )
    if (PAGES / "expected.json").exists():
        f = await bench_fetch(PAGES / "pages", PAGES / "expected.json")
        print(
            f"fetch+extract on {f['pages']} real pages: {f['pages_per_s']:.1f} pages/s, median "
            f"{f['median_ms']:.0f} ms/page; expected text found {f['with_found']:.1%}, "
            f"boilerplate dropped {f['without_dropped']:.1%}"
        )
    else:
        print(f"(no {PAGES}: fetch benchmark skipped)")
    s = await bench_search(2000)
    print(
        f"offline search, {s['docs']} documents: median query {s['median_query_ms']:.1f} ms "
        f"(index), {s['median_tool_ms']:.1f} ms through web_search"
    )


if __name__ == "__main__":
    anyio.run(main_async)
