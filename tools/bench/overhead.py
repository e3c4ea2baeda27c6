"""Framework CPU overhead per step on a scripted 300-step run with zero provider latency.

Each step's tool returns 4 KB, so the history grows to ~1.2 MB. Overhead of step k is the
process CPU between the end of tool call k-1 and the start of tool call k (everything the
framework does for one turn: building and encoding the request, HTTP, SSE parsing,
committing the trace), measured inside the tool, so time inside tools is excluded. The
fake provider runs in its own process. Figures are medians over a window of steps around
10 and 300, over several runs.

    python tools/bench/overhead.py [--steps 300] [--runs 3] [--peer-python /path/to/python]

Peers (openai-agents, smolagents, pydantic-ai) are measured when importable by the current
interpreter or by --peer-python (install them in a separate venv with
`pip install -e ".[bench]"`; some pin older openai releases). Peers run against a lenient
fake that accepts histories without reasoning, which Moonshot would reject.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fake_provider_process, median

DRIVER = Path(__file__).resolve().parent / "_overhead_driver.py"
PEERS = {"openai-agents": "agents", "smolagents": "smolagents", "pydantic-ai": "pydantic_ai"}


def importable(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def run_once(python: str, framework: str, base_url: str, steps: int) -> dict[str, object]:
    out = subprocess.run(
        [python, str(DRIVER), framework, base_url, str(steps)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=1800,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"framework": framework, "error": (out.stderr or out.stdout)[-400:], "per_step": []}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def window(values: list[float], at: int, half: int = 5) -> list[float]:
    lo, hi = max(0, at - half - 1), min(len(values), at + half - 1)
    return values[lo:hi]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--only", default=None, help="one framework (agentkit, bare-openai or a peer)")
    args = parser.parse_args()
    os.environ["OVERHEAD_STEPS"] = str(args.steps)  # the fake provider's process scripts that many
    targets: list[tuple[str, str]] = [(sys.executable, "agentkit"), (sys.executable, "bare-openai")]
    for name, module in PEERS.items():
        if args.only and name != args.only:
            continue
        for py in filter(None, [sys.executable, args.peer_python]):
            if importable(py, module):
                targets.append((py, name))
                break
        else:
            print(f"({name} not installed: skipped)")
    if args.only:
        targets = [t for t in targets if t[1] == args.only]
    late = args.steps - 5
    print(
        f"{'framework':14} {'step 10':>10} {f'step {args.steps}':>10} {'slowest':>10} "
        f"{'peak RSS':>10} {'wall':>8}  notes"
    )
    for python, framework in targets:
        lenient = framework in PEERS or framework == "bare-openai"
        early, tail, worst, rss, wall, notes = [], [], [], [], [], []
        with fake_provider_process("_overhead_scenario:make", lenient=lenient) as base_url:
            for _ in range(args.runs):
                r = run_once(python, framework, base_url, args.steps)
                per_step = list(r.get("per_step") or [])  # type: ignore[call-overload]
                if r.get("error"):
                    notes.append(str(r["error"])[:120])
                if len(per_step) < late:
                    notes.append(f"only {r.get('tool_calls')} tool calls")
                    continue
                early.append(median(window(per_step, 10)))
                tail.append(median(window(per_step, args.steps - 5)))
                worst.append(max(per_step))
                rss.append(float(r["peak_rss_mb"]))  # type: ignore[arg-type]
                wall.append(float(r["wall_s"]))  # type: ignore[arg-type]
        if early:
            print(
                f"{framework:14} {median(early) * 1000:8.1f}ms {median(tail) * 1000:8.1f}ms {max(worst) * 1000:8.1f}ms "
                f"{median(rss):8.0f}MB {median(wall):7.1f}s  {'; '.join(sorted(set(notes)))}"
            )
        else:
            print(f"{framework:14} {'failed':>10}  {'; '.join(sorted(set(notes)))}")


if __name__ == "__main__":
    main()
