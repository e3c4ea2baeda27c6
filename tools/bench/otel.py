"""CPU per step with OpenTelemetry tracing off and on (the overhead scenario of overhead.py).

The same scripted 300-step run as ``tools/bench/overhead.py`` (4 KB tool results, zero
provider latency, the fake provider in its own process), driven by its driver three ways:
tracing off (no ``OTEL_*`` variable), on (``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at an
OTLP/HTTP receiver in another process: the SDK's batch processor and exporter, protobuf
over HTTP), and on with message content (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``:
each chat span holds the messages its call sent, i.e. the whole view, so what is exported per
step grows with the view; the ``KB/step`` column says how much went to the receiver).
Per-step CPU is the process's (the export thread included) between one tool call and the next;
figures are medians over a window of steps around 10 and near the end, over several runs.

On a shared, loaded machine those differences drown in noise, so the script also measures the
cost it can attribute exactly: the CPU (``thread_time``) spent inside agentkit's span
observer (on the event loop) and inside the exporter's ``export`` (the batch thread:
protobuf encoding and the HTTP POST), per step, next to the off run's CPU per step.

    python tools/bench/otel.py [--steps 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fake_provider_process, median

DRIVER = Path(__file__).resolve().parent / "_overhead_driver.py"
MODES: dict[str, dict[str, str]] = {
    "off": {},
    "on": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{endpoint}"},
    "on+content": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{endpoint}",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    },
}


def receive() -> None:
    """The receiver process: accepts ``POST /v1/traces``, counts spans and bytes, ``GET /count``
    tells (``SPANS BYTES``)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = [0, 0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request.ParseFromString(body)
            spans[0] += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            spans[1] += len(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = f"{spans[0]} {spans[1]}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


@contextmanager
def receiver_process() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--receive"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def spans_received(endpoint: str) -> tuple[int, int]:
    """Spans and bytes received so far."""
    with urllib.request.urlopen(f"{endpoint}/count", timeout=10) as reply:
        n, size = reply.read().split()
        return int(n), int(size)


def run_once(base_url: str, steps: int, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(DRIVER), "agentkit", base_url, str(steps)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env},
        timeout=1800,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": (out.stderr or out.stdout)[-400:], "per_step": []}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def attributed(base_url: str, steps: int) -> None:
    """The driver with the CPU of the observer and of the exporter accounted (run with the
    ``OTEL_*`` variables set); prints one JSON line."""
    import asyncio
    import time

    from _overhead_clock import StepClock
    from _overhead_driver import run_agentkit
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from agentkit import telemetry
    from agentkit.telemetry._spans import RunTracer

    spent = {"observer": 0.0, "export": 0.0}
    observe, export = RunTracer.__call__, OTLPSpanExporter.export

    async def timed_observe(self: RunTracer, *args: Any) -> None:
        t = time.thread_time()
        try:
            await observe(self, *args)
        finally:
            spent["observer"] += time.thread_time() - t

    def timed_export(self: OTLPSpanExporter, *args: Any) -> Any:
        t = time.thread_time()
        try:
            return export(self, *args)
        finally:
            spent["export"] += time.thread_time() - t

    RunTracer.__call__ = timed_observe  # type: ignore[method-assign]
    OTLPSpanExporter.export = timed_export  # type: ignore[method-assign]
    clock = StepClock()
    asyncio.run(run_agentkit(base_url, steps, clock))
    (tracer,) = telemetry.run_observers()
    assert isinstance(tracer, RunTracer)
    tracer.provider.force_flush()  # type: ignore[attr-defined]
    print(json.dumps({**spent, "steps": len(clock.starts), "per_step": clock.per_step()}))


def attributed_once(base_url: str, steps: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--attributed", base_url, str(steps)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{ROOT}:{Path(__file__).resolve().parent}", "PATH": "/usr/bin:/bin", **env},
        timeout=1800,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": (out.stderr or out.stdout)[-400:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def window(values: list[float], at: int, half: int = 5) -> list[float]:
    lo, hi = max(0, at - half - 1), min(len(values), at + half - 1)
    return values[lo:hi]


def main() -> None:
    if "--receive" in sys.argv:
        receive()
        return
    if "--attributed" in sys.argv:
        attributed(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    late = args.steps - 5
    per_mode: dict[str, dict[str, list[float]]] = {m: {"early": [], "tail": [], "mean": []} for m in MODES}
    notes: dict[str, list[str]] = {m: [] for m in MODES}
    spans: dict[str, int] = dict.fromkeys(MODES, 0)
    sent: dict[str, int] = dict.fromkeys(MODES, 0)
    with receiver_process() as endpoint, fake_provider_process("_overhead_scenario:make") as base_url:
        for _ in range(args.runs):
            for mode, template in MODES.items():  # modes interleaved: load drifting on the machine hits all alike
                env = {k: v.format(endpoint=endpoint) for k, v in template.items()}
                before = spans_received(endpoint)
                r = run_once(base_url, args.steps, env)
                after = spans_received(endpoint)
                spans[mode] += after[0] - before[0]
                sent[mode] += after[1] - before[1]
                per_step = [float(x) for x in r.get("per_step") or []]  # type: ignore[attr-defined]
                if r.get("error") or len(per_step) < late:
                    notes[mode].append(str(r.get("error") or f"only {len(per_step)} steps")[:120])
                    continue
                per_mode[mode]["early"].append(median(window(per_step, 10)))
                per_mode[mode]["tail"].append(median(window(per_step, late)))
                per_mode[mode]["mean"].append(sum(per_step) / len(per_step))
        attributed_runs = {
            mode: attributed_once(
                base_url, args.steps, {k: v.format(endpoint=endpoint) for k, v in MODES[mode].items()}
            )
            for mode in ("on", "on+content")
        }
    figures: dict[str, tuple[float, float, float]] = {}
    print(f"{'tracing':12} {'step 10':>10} {f'step {late}':>10} {'mean/step':>10} {'spans':>7} {'KB/step':>8}  notes")
    for mode, got in per_mode.items():
        if not got["early"]:
            print(f"{mode:12} {'failed':>10}  {'; '.join(sorted(set(notes[mode])))}")
            continue
        e, t, m = figures[mode] = (median(got["early"]), median(got["tail"]), median(got["mean"]))
        note = "; ".join(sorted(set(notes[mode])))
        kb = sent[mode] / 1024 / max(1, args.runs * args.steps)
        print(f"{mode:12} {e * 1000:8.2f}ms {t * 1000:8.2f}ms {m * 1000:8.2f}ms {spans[mode]:7d} {kb:8.1f}  {note}")
    if "off" in figures:
        base = figures["off"]
        for mode, (e, t, m) in figures.items():
            if mode != "off":
                print(
                    f"{mode}: {100 * (e / base[0] - 1):+.1f}% at step 10, {100 * (t / base[1] - 1):+.1f}% at step "
                    f"{late}, {100 * (m / base[2] - 1):+.1f}% on the mean step (CPU per step vs tracing off)"
                )
    off_mean = figures["off"][2] if "off" in figures else float("nan")
    print(
        f"attributed CPU per step (observer on the loop + exporter thread), vs {off_mean * 1000:.2f} ms per step off:"
    )
    for mode, r in attributed_runs.items():
        if r.get("error"):
            print(f"  {mode}: failed: {r['error']}")
            continue
        per = (float(r["observer"]) + float(r["export"])) / max(1, int(r["steps"]))
        print(
            f"  {mode:11} observer {float(r['observer']) / int(r['steps']) * 1e6:6.0f} us + exporter "
            f"{float(r['export']) / int(r['steps']) * 1e6:6.0f} us = {per * 1e6:6.0f} us/step "
            f"({100 * per / off_mean:.1f}% of the off run's CPU per step)"
        )


if __name__ == "__main__":
    main()
