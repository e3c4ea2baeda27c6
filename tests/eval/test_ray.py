"""The eval on a local Ray cluster (2 CPUs, no dashboard) with the PostgreSQL store: attempts
are Ray tasks whose workers open the store by URL; a worker killed mid-attempt loses nothing
(Ray runs the task again and it resumes the attempt's run from the store)."""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_runner import SUITE20, TASKS, WRONG, SuiteModel, write_config

from agentkit.eval.runner import LOCAL_RAY, EvalOutcome, run_eval
from agentkit.eval.suites import load_suite
from agentkit.store import open_store
from agentkit.store.events import RunStarted, StatusChanged
from agentkit.task import load_task
from agentkit.testing import Delay, FakeProvider, FakeRequest, HttpError, Turn

ray = pytest.importorskip("ray", reason='ray is not installed (pip install "agentkit[ray]")')


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def attempt_workers() -> list[int]:
    """Pids of Ray workers running an attempt now (Ray titles them ``ray::attempt_task``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"ray::attempt_task"):
            pids.append(int(entry.name))
    return pids


def evaluate(tmp_path: Path, url: str, fake: FakeProvider) -> EvalOutcome:
    config = load_task(write_config(tmp_path, fake), require_task=False)
    go = functools.partial(
        run_eval,
        load_suite(SUITE20),
        config,
        store=url,
        workdir=tmp_path / "runs",
        out_dir=tmp_path / "out",
        ray=LOCAL_RAY,
        concurrency=4,
        ray_cpus=0.5,
    )
    return anyio.run(go)


def test_ray_eval_survives_a_killed_worker(local_ray: None, postgres_url: str, tmp_path: Path) -> None:
    """t03's first answer is held back (a delay served off the fake's lock) while the workers
    running attempts are SIGKILLed; Ray retries their tasks, which resume their runs."""
    model = SuiteModel()
    held = threading.Event()
    served: list[str] = []

    def responder(req: FakeRequest) -> Turn | HttpError | Delay:
        if req.tools and SuiteModel.task_of(req) == "t03" and not served:
            served.append("delay")
            held.set()
            return Delay(60)  # the fake sleeps off its lock, then serves the next item...
        if served == ["delay"] and SuiteModel.task_of(req) == "t03":
            served.append("lost")
            return Turn(content="(never read: its worker is gone)")  # ...this one, to nobody
        return model(req)

    def killer() -> None:
        held.wait(300)
        for pid in attempt_workers():
            os.kill(pid, signal.SIGKILL)

    with FakeProvider(responder) as fake:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        outcome = evaluate(tmp_path, postgres_url, fake)
        thread.join()
    s = outcome.summary
    assert (s.graded, s.correct, s.failed, s.complete) == (20, 15, 0, True), [r.error for r in outcome.rows if r.error]
    assert {r.id for r in outcome.rows if r.grade != "correct"} == WRONG
    t03 = outcome.rows[2]

    async def trace() -> list[Any]:
        store = open_store(postgres_url)
        try:
            return [e.event for e in await store.events(t03.run_id)]
        finally:
            await store.aclose()

    events = anyio.run(trace)
    assert sum(isinstance(e, RunStarted) for e in events) == 1  # the killed attempt was resumed
    assert any(isinstance(e, StatusChanged) and e.reason == "resumed" for e in events)
    assert model.answers["t03"] == 1


def test_killing_the_driver_loses_nothing(local_ray: None, postgres_url: str, tmp_path: Path) -> None:
    """`agentkit eval --ray ADDRESS` (a driver joining this test's cluster, half a CPU per attempt
    from the config's eval.cpus_per_attempt) SIGKILLed mid-suite:
    Ray ends its tasks with it; the same command again finishes the suite, without running the
    attempts graded before the kill."""
    import json
    import subprocess
    import sys
    import time

    from agentkit.eval.results import read_rows

    address = ray.get_runtime_context().gcs_address
    model = SuiteModel()
    with FakeProvider(model, latency_s=0.3) as fake:
        config = write_config(tmp_path, fake)
        config.write_text(config.read_text().replace("eval: {", "eval: {cpus_per_attempt: 0.5, "))
        args = [sys.executable, "-m", "agentkit", "eval", str(SUITE20), "--ray", address, "--config", str(config)]
        args += ["--store", postgres_url, "--out", "out", "--json", "--concurrency", "4"]
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        results = tmp_path / "out" / "results.jsonl"
        deadline = time.monotonic() + 240
        while not results.exists() or len(read_rows(results)) < 5:  # five attempts graded
            assert proc.poll() is None, "the eval ended before it was killed"
            assert time.monotonic() < deadline, "no progress in 240 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        finished = {r.id for r in read_rows(results)}
        answered = dict(model.answers)
        while attempt_workers():  # Ray ends the dead driver's tasks (their runs stay interrupted)
            assert time.monotonic() < deadline, "Ray kept the dead driver's tasks running"
            time.sleep(0.05)
        again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert fake.max_in_flight > 2  # half a CPU per attempt: 4 at once on the 2-CPU cluster
    assert again.returncode == 0, again.stderr[-2000:]
    data = json.loads(again.stdout)
    assert (data["graded"], data["correct"], data["complete"]) == (20, 15, True)
    assert all(model.answers[t] == answered[t] == 1 for t in finished)  # not asked again
    assert set(model.answers) == set(TASKS)  # (an answer in flight at the kill is asked for again)
