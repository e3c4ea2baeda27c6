"""CPU per step with OpenTelemetry tracing off and on (the overhead scenario of overhead.py).

The same scripted 300-step run as ``tools/bench/overhead.py`` (4 KB tool results, zero
provider latency, the fake provider in its own process), driven by its driver three ways:
tracing off (no ``OTEL_*`` variable), on (``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at an
OTLP/HTTP receiver in another process: the SDK's batch processor and exporter, protobuf
over HTTP), and on with message content (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``).
Per-step CPU is the process's (the export thread included) between one tool call and the next;
figures are medians over a window of steps around 10 and near the end, over several runs.

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
    """The receiver process: accepts ``POST /v1/traces``, counts spans, ``GET /count`` tells."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            spans[0] += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = str(spans[0]).encode()
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


def spans_received(endpoint: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/count", timeout=10) as reply:
        return int(reply.read())


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


def window(values: list[float], at: int, half: int = 5) -> list[float]:
    lo, hi = max(0, at - half - 1), min(len(values), at + half - 1)
    return values[lo:hi]


def main() -> None:
    if "--receive" in sys.argv:
        receive()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    late = args.steps - 5
    figures: dict[str, tuple[float, float, float]] = {}
    print(f"{'tracing':12} {'step 10':>10} {f'step {late}':>10} {'mean/step':>10} {'spans':>7}  notes")
    with receiver_process() as endpoint, fake_provider_process("_overhead_scenario:make") as base_url:
        for mode, template in MODES.items():
            env = {k: v.format(endpoint=endpoint) for k, v in template.items()}
            early, tail, mean, notes = [], [], [], []
            before = spans_received(endpoint)
            # runs alternate with the other modes' only across invocations; interleave by running
            # this script twice if the machine's load drifts
            for _ in range(args.runs):
                r = run_once(base_url, args.steps, env)
                per_step = [float(x) for x in r.get("per_step") or []]  # type: ignore[attr-defined]
                if r.get("error") or len(per_step) < late:
                    notes.append(str(r.get("error") or f"only {len(per_step)} steps")[:120])
                    continue
                early.append(median(window(per_step, 10)))
                tail.append(median(window(per_step, late)))
                mean.append(sum(per_step) / len(per_step))
            spans = spans_received(endpoint) - before
            if not early:
                print(f"{mode:12} {'failed':>10}  {'; '.join(sorted(set(notes)))}")
                continue
            figures[mode] = (median(early), median(tail), median(mean))
            e, t, m = figures[mode]
            print(f"{mode:12} {e * 1000:8.2f}ms {t * 1000:8.2f}ms {m * 1000:8.2f}ms {spans:7d}  {'; '.join(notes)}")
    if "off" in figures:
        base = figures["off"]
        for mode, (e, t, m) in figures.items():
            if mode != "off":
                print(
                    f"{mode}: {100 * (e / base[0] - 1):+.1f}% at step 10, {100 * (t / base[1] - 1):+.1f}% at step "
                    f"{late}, {100 * (m / base[2] - 1):+.1f}% on the mean step (CPU per step vs tracing off)"
                )


if __name__ == "__main__":
    main()
