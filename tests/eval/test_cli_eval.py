"""`agentkit eval` as a user runs it: a real subprocess against the fake provider on loopback.
--json shape, exit codes (0 complete, 1 failed attempts, 2 bad input with one line and no
traceback), and a SIGKILL mid-suite after which the same command finishes without running
finished attempts again and resumes the interrupted ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from test_runner import SUITE20, TASKS, WRONG, SuiteModel, write_config

from agentkit.eval.results import read_rows
from agentkit.store import SQLiteStore
from agentkit.store.events import RunStarted, StatusChanged
from agentkit.testing import FakeProvider


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_STORE"}


def agentkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentkit", *args], cwd=cwd, env=env(), text=True, capture_output=True, timeout=300
    )


def eval_args(tmp_path: Path, config: Path, *extra: str) -> list[str]:
    return ["eval", str(SUITE20), "--config", str(config), "--store", str(tmp_path / "s.db"), "--out", "out", *extra]


def test_json_shape_exit_0_and_plain_progress_lines(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        config = write_config(tmp_path, fake)
        done = agentkit(*eval_args(tmp_path, config, "--json", "--concurrency", "4"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"tasks", "attempts", "correct", "accuracy", "cost_usd", "results"} <= set(data)
    assert (data["tasks"], data["attempts"], data["correct"], data["accuracy"]) == (20, 1, 15, 0.75)
    assert data["cost_usd"] > 0 and data["complete"] is True
    results = tmp_path / data["results"]
    assert results == tmp_path / "out" / "results.jsonl" and len(read_rows(results)) == 20
    assert (tmp_path / data["summary_html"]).is_file() and (tmp_path / data["summary_md"]).is_file()
    # stderr is not a terminal: one plain line per ended attempt, no control codes
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 20 and lines[-1].startswith("[20/20]") and "accuracy 15/20 = 75.0%" in lines[-1]
    assert "\x1b[" not in done.stderr


def test_text_output_and_default_out_dir(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        config = write_config(tmp_path, fake)
        args = ["eval", str(SUITE20), "--config", str(config), "--store", str(tmp_path / "s.db"), "--limit", "4"]
        done = agentkit(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "accuracy: 3/4 = 75.0%" in done.stdout  # t03 of the first four is answered wrongly
    out = next((tmp_path / ".agentkit" / "eval").glob("suite20-*"))
    assert len(out.name) == len("suite20-") + 8 and (out / "results.jsonl").is_file()


def test_failed_attempts_exit_1(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel(fail=frozenset({"t05"}))) as fake:
        config = write_config(tmp_path, fake)
        done = agentkit(*eval_args(tmp_path, config, "--json"), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["failed"] == 1 and data["complete"] is False and data["correct"] == 14  # t05 failed


BAD_SUITE = '{"id": "a", "question": "q", "answer": "x"}\n{"id": "b", "question": "q"}\n'


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing suite", "nosuch.jsonl"),
        ("bad suite line", "bad.jsonl:2"),
        ("unknown config key", "eval.max_cost: unknown key; did you mean 'max_cost_usd'?"),
        ("bad budget", "eval.max_cost_usd: must be greater than 0"),
        ("bad cpus", "eval.cpus_per_attempt: must be greater than 0"),
        ("bad grader", "--grader: unknown grader 'fuzzy'"),
        ("remote ray with sqlite", "cannot share the SQLite store"),
        ("address without --ray", "a Ray address goes with --ray"),
        ("unknown store scheme", "--store: no store backend for mongodb://"),
        ("negative tolerance", "--tolerance: must be a relative tolerance between 0 and 1, e.g. 0.01 for 1%"),
        ("infinite tolerance", "tolerance between 0 and 1, e.g. 0.01 for 1% (got inf)"),
        ("tolerance not a number", "--tolerance: must be a number between 0 and 1 (got 'one percent')"),
        ("tolerance in the config", "eval.tolerance: must be at most 1"),
        ("tolerance column", "bad.jsonl:1: tolerance: must be a relative tolerance between 0 and 1"),
    ],
)
def test_invalid_input_is_one_line_and_exit_2(tmp_path: Path, case: str, expected: str) -> None:
    with FakeProvider(SuiteModel()) as fake:
        config = write_config(tmp_path, fake)
        suite, extra = str(SUITE20), ["--config", str(config), "--store", str(tmp_path / "s.db")]
        if case == "missing suite":
            suite = str(tmp_path / "nosuch.jsonl")
        elif case == "bad suite line":
            (tmp_path / "bad.jsonl").write_text(BAD_SUITE)
            suite = str(tmp_path / "bad.jsonl")
        elif case == "unknown config key":
            extra[1] = str(write_config(tmp_path, fake, "", name="c2.yaml"))
            Path(extra[1]).write_text(Path(extra[1]).read_text().replace("eval: {", "eval: {max_cost: 1, "))
        elif case == "bad budget":
            extra[1] = str(write_config(tmp_path, fake, "", name="c3.yaml"))
            Path(extra[1]).write_text(Path(extra[1]).read_text().replace("eval: {", "eval: {max_cost_usd: -1, "))
        elif case == "bad cpus":
            extra[1] = str(write_config(tmp_path, fake, "", name="c4.yaml"))
            Path(extra[1]).write_text(Path(extra[1]).read_text().replace("eval: {", "eval: {cpus_per_attempt: 0, "))
        elif case == "bad grader":
            extra += ["--grader", "fuzzy"]
        elif case == "remote ray with sqlite":
            extra += ["--ray", "ray://head.example:10001"]
        elif case == "address without --ray":
            extra += ["ray://head.example:10001"]
        elif case == "negative tolerance":
            extra += ["--tolerance", "-0.5"]
        elif case == "infinite tolerance":
            extra += ["--tolerance", "inf"]
        elif case == "tolerance not a number":
            extra += ["--tolerance", "one percent"]
        elif case == "tolerance in the config":
            extra[1] = str(write_config(tmp_path, fake, "", name="c5.yaml"))
            Path(extra[1]).write_text(Path(extra[1]).read_text().replace("eval: {", "eval: {tolerance: 5, "))
        elif case == "tolerance column":
            (tmp_path / "bad.jsonl").write_text('{"id": "a", "question": "q", "answer": "1", "tolerance": -1}\n')
            suite = str(tmp_path / "bad.jsonl")
        else:
            extra[3] = "mongodb://db.example/x"
        done = agentkit("eval", suite, *extra, cwd=tmp_path)
        assert fake.request_count == 0  # nothing ran
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "s.db").exists() or case == "remote ray with sqlite"


def test_an_eval_config_needs_no_task_but_a_run_still_does(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        config = write_config(tmp_path, fake)
        done = agentkit("run", str(config), "--store", str(tmp_path / "s.db"), cwd=tmp_path)
    assert done.returncode == 2 and "task: required" in done.stderr


def _rows(path: Path) -> int:
    try:
        return len(read_rows(path))
    except FileNotFoundError:
        return 0


async def _runs(db: Path) -> dict[str, tuple[str, list[object]]]:
    async with SQLiteStore(db) as store:
        return {r.id: (r.status, [e.event for e in await store.events(r.id)]) for r in await store.list_runs()}


def test_sigkill_mid_suite_then_the_same_command_finishes_without_rerunning(tmp_path: Path) -> None:
    model = SuiteModel()
    with FakeProvider(model, latency_s=0.1) as fake:
        config = write_config(tmp_path, fake)
        args = [sys.executable, "-m", "agentkit", *eval_args(tmp_path, config, "--json", "--concurrency", "3")]
        proc = subprocess.Popen(args, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        results = tmp_path / "out" / "results.jsonl"
        deadline = time.monotonic() + 120
        while _rows(results) < 7:  # an event: seven attempts graded and written
            assert proc.poll() is None, "the eval ended before it was killed"
            assert time.monotonic() < deadline, "no progress in 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        finished = {r.id: r for r in read_rows(results)}
        answered = dict(model.answers)
        at_kill = anyio.run(_runs, tmp_path / "s.db")
        in_flight = [rid for rid, (status, _) in at_kill.items() if status == "running"]

        again = agentkit(*eval_args(tmp_path, config, "--json", "--concurrency", "3"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert (data["correct"], data["graded"], data["complete"]) == (15, 20, True)
    assert len(finished) >= 7
    for task_id in finished:
        assert model.answers[task_id] == answered[task_id] == 1, task_id  # not asked again
    rows = {r.id: r for r in read_rows(results)}
    assert list(rows) == list(TASKS) and {r.id for r in rows.values() if r.grade != "correct"} == WRONG
    assert all(rows[t].run_id == finished[t].run_id for t in finished)
    after = anyio.run(_runs, tmp_path / "s.db")
    assert len(after) == 20  # one run per attempt: nothing started twice
    for run_id in in_flight:  # killed mid-run: resumed, not restarted
        status, events = after[run_id]
        assert status == "finished"
        assert sum(isinstance(e, RunStarted) for e in events) == 1
        if at_kill[run_id][1]:  # killed after its first event (not between its row and that event: then started)
            assert any(isinstance(e, StatusChanged) and e.reason == "resumed" for e in events)


def test_ray_without_its_extra_is_one_line_naming_the_install(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        config = write_config(tmp_path, fake)
        code = (
            "import sys; sys.modules['ray'] = None  # as on a machine without the ray extra\n"
            "from agentkit.cli import main; sys.argv = ['agentkit', *sys.argv[1:]]; main()"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, *eval_args(tmp_path, config, "--ray")],
            cwd=tmp_path,
            env=env(),
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert fake.request_count == 0  # nothing ran
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert 'pip install "agentkit[ray]"' in done.stderr and "internal error" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
