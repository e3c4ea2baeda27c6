"""An attachment is never copied through a link the sandbox left (issue #20, item 2).

The attack: attempt run ids depend only on the suite and the task, so two evals of one suite
with two stores in one folder (the README's advice for a second model) made attempts with the
same run ids. Eval A's sandboxed python replaces its attachment ``data.txt`` by a link to a host
file; eval B then copied the attachment into the same work dir through that link, overwriting
the host file. Now each store has its own work-dir root, and the host writes into a work dir
only without following links (:mod:`agentkit.store._workfiles`).

The first test is the whole thing as a user runs it: two real ``agentkit eval`` processes,
the fake provider on loopback as the model, and a python tool call run in the real bubblewrap
sandbox.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from agentkit.eval.runner import attempt_run_id, run_eval
from agentkit.eval.suites import load_suite
from agentkit.sandbox import probe_bwrap
from agentkit.store._location import work_root
from agentkit.task import load_task
from agentkit.testing import FakeProvider, FakeRequest, Turn, call

ATTACHMENT = "the attachment's own text\n"
HOST_TEXT = "a host file the sandbox must never get written\n"
QUESTION = "What does the attached data.txt say?"


def make_suite(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "data.txt").write_text(ATTACHMENT)
    suite = folder / "suite.jsonl"
    row = {"id": "t1", "question": QUESTION, "answer": "attached", "files": ["data.txt"]}
    suite.write_text(json.dumps(row) + "\n")
    return suite


class PlantsALink:
    """The model under test: its first tool call (python, in the sandbox) replaces the
    attachment by a link to ``target`` (a host path, dangling inside the sandbox); then it
    answers. Keeps what each python call printed."""

    def __init__(self, target: Path) -> None:
        self.code = (
            "import os\n"
            "print('before:', open('data.txt').read().strip())\n"
            "os.remove('data.txt')\n"
            f"os.symlink({str(target)!r}, 'data.txt')\n"
            "print('planted:', os.readlink('data.txt'))\n"
        )
        self.printed: list[str] = []

    def __call__(self, req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Read the file.")
        results = req.last_tool_results()
        if not any(m["role"] == "tool" for m in req.messages):
            return Turn(tool_calls=[call("python", code=self.code)])
        self.printed.extend(results)
        return Turn(content="attached")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_STORE"}


def write_config(folder: Path, fake: FakeProvider) -> Path:
    config = folder / "eval.yaml"
    config.write_text(f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: [python]\n")
    return config


def test_a_second_eval_with_another_store_never_writes_through_the_first_ones_link(tmp_path: Path) -> None:
    status = probe_bwrap()
    if not status.available:  # a failure in CI (tests/conftest.py), where bubblewrap is installed
        pytest.skip(f"no sandbox is possible here: {status.reason}")
    suite = make_suite(tmp_path)
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text(HOST_TEXT)
    project = tmp_path / "project"
    project.mkdir()
    model = PlantsALink(host_file)
    with FakeProvider(model) as fake:
        config = write_config(project, fake)
        for store in ("a.db", "b.db"):  # two models of one suite, side by side
            done = subprocess.run(
                [sys.executable, "-m", "agentkit", "eval", str(suite), "--config", str(config), "--store", store,
                 "--out", f"out-{store}", "--json"],
                cwd=project, env=env(), text=True, capture_output=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            assert json.loads(done.stdout)["correct"] == 1
    # Each eval's sandbox really ran, read the attachment and planted its link ...
    assert len(model.printed) == 2, model.printed
    for printed in model.printed:
        assert "before: the attachment's own text" in printed and f"planted: {host_file}" in printed
    # ... and the host file is untouched.
    assert host_file.read_text() == HOST_TEXT
    run_id = attempt_run_id(load_suite(suite).content_hash, "t1", 0)
    a_dir, b_dir = (work_root(project / s) / run_id for s in ("a.db", "b.db"))
    assert a_dir != b_dir
    for work in (a_dir, b_dir):
        assert os.readlink(work / "data.txt") == str(host_file)  # what each sandbox left


def test_a_link_planted_where_an_attachment_goes_is_replaced_not_written_through(tmp_path: Path) -> None:
    """Even in one work dir (runs of an older version, which shared ``<store dir>/runs``),
    the copy replaces a planted link; the run reads its own attachment."""
    suite = make_suite(tmp_path)
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text(HOST_TEXT)
    shared = tmp_path / "runs"
    run_id = attempt_run_id(load_suite(suite).content_hash, "t1", 0)
    (shared / run_id).mkdir(parents=True)
    (shared / run_id / "data.txt").symlink_to(host_file)  # left by an earlier sandbox

    seen: list[str] = []

    def answers(req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Answer.")
        seen.append((shared / run_id / "data.txt").read_text())  # what the run finds when asked
        return Turn(content="attached")

    with FakeProvider(answers) as fake:
        cfg = tmp_path / "eval.yaml"
        cfg.write_text(f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: []\n")
        go = functools.partial(
            run_eval,
            load_suite(suite),
            load_task(cfg, require_task=False),
            store=tmp_path / "s.db",
            workdir=shared,
            out_dir=tmp_path / "out",
        )
        outcome = anyio.run(go)
    assert outcome.summary.correct == 1, outcome.rows
    assert host_file.read_text() == HOST_TEXT
    assert not (shared / run_id / "data.txt").is_symlink() and seen == [ATTACHMENT]
    assert oct((shared / run_id / "data.txt").stat().st_mode & 0o777) == oct(0o644)  # the sandbox's uid reads it


def test_a_run_dir_that_is_a_link_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """A work dir replaced by a link to a host folder: the attempt fails with a clear error,
    the host folder gets nothing."""
    suite = make_suite(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shared = tmp_path / "runs"
    shared.mkdir()
    run_id = attempt_run_id(load_suite(suite).content_hash, "t1", 0)
    (shared / run_id).symlink_to(elsewhere, target_is_directory=True)
    with FakeProvider([Turn(content="1. Answer."), Turn(content="attached")]) as fake:
        cfg = tmp_path / "eval.yaml"
        cfg.write_text(f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: []\n")
        go = functools.partial(
            run_eval,
            load_suite(suite),
            load_task(cfg, require_task=False),
            store=tmp_path / "s.db",
            workdir=shared,
            out_dir=tmp_path / "out",
        )
        outcome = anyio.run(go)
    (row,) = outcome.rows
    assert row.status == "error" and "is a link or not a directory" in (row.error or ""), row
    assert list(elsewhere.iterdir()) == []
