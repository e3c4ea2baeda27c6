"""Helpers shared by the benchmarks: a fake provider in its own process, statistics."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def fake_provider_process(
    responder: str, *, latency: float = 0.0, lenient: bool = False, context_window: int | None = None
) -> Iterator[str]:
    """Run ``agentkit.testing.fake_provider`` in a child process (its CPU is not ours)."""
    cmd = [sys.executable, "-m", "agentkit.testing", "--responder", responder, "--latency", str(latency)]
    if lenient:
        cmd.append("--lenient")
    if context_window:
        cmd += ["--context-window", str(context_window)]
    env_path = f"{ROOT}:{ROOT / 'tools' / 'bench'}"
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**_env(), "PYTHONPATH": env_path}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"fake provider did not start: {line!r}")
        yield line.split()[1]
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"
