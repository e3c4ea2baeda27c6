"""Grades that mean what they say (issue #23, item 6): the ``number`` grader is exact by default,
as GAIA's scorer is, and takes a relative tolerance only when one is set: ``--tolerance``, the
config's ``eval: {tolerance: ...}``, or a suite line's ``tolerance`` (which wins). The model is
the fake provider over loopback; the store is real SQLite."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.eval.runner import EvalOutcome, run_eval
from agentkit.eval.suites import SuiteError, load_suite
from agentkit.task import load_task
from agentkit.testing import FakeProvider, FakeRequest, Turn

POPULATION = "What was the town's population in the 2011 census?"


class OffByOne:
    """Answers every question with ``523,762`` (the expected answer is 523761); counts answers."""

    def __init__(self) -> None:
        self.answers = 0

    def __call__(self, req: FakeRequest) -> Turn:
        if not req.tools:
            return Turn(content="1. Look it up.")
        self.answers += 1
        return Turn(content="523,762")


def suite_file(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "pop.jsonl"
    path.write_text(json.dumps({"id": "pop", "question": POPULATION, "answer": "523761", **extra}) + "\n")
    return path


def config_file(tmp_path: Path, fake: FakeProvider, eval_section: str = "") -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text(f"model: {{provider: custom, base_url: '{fake.base_url}'}}\ntools: []\n{eval_section}")
    return path


def run(tmp_path: Path, suite: Path, config: Path, **options: Any) -> EvalOutcome:
    go = functools.partial(
        run_eval,
        load_suite(suite),
        load_task(config, require_task=False),
        store=tmp_path / "s.db",
        out_dir=tmp_path / "out",
        grader="number",
        **options,
    )
    return anyio.run(go)


def test_off_by_one_is_wrong_by_default_and_right_with_a_tolerance(tmp_path: Path) -> None:
    model = OffByOne()
    with FakeProvider(model) as fake:
        suite, config = suite_file(tmp_path), config_file(tmp_path, fake)
        exact = run(tmp_path, suite, config)
        (row,) = exact.rows
        assert (row.grade, row.grader) == ("incorrect", "number")
        assert row.reasoning == "523762 vs 523761 (exact): not equal"
        # The same eval again with a tolerance: the stored answer is graded again, the model not asked.
        loose = run(tmp_path, suite, config, tolerance=0.01)
        assert loose.rows[0].grade == "correct" and "within 0.01 relative (1%)" in loose.rows[0].reasoning
        assert model.answers == 1
        # ... and without one, it is wrong again: a grade says what today's rule says.
        assert run(tmp_path, suite, config).rows[0].grade == "incorrect"


def test_the_configs_tolerance_and_a_tasks_own(tmp_path: Path) -> None:
    with FakeProvider(OffByOne()) as fake:
        config = config_file(tmp_path, fake, "eval: {tolerance: 0.01}\n")
        assert run(tmp_path, suite_file(tmp_path), config).rows[0].grade == "correct"
        strict = tmp_path / "strict"
        strict.mkdir()
        pinned = suite_file(strict, tolerance=0)  # the task says exact, whatever the eval says
        assert run(strict, pinned, config, tolerance=0.05).rows[0].grade == "incorrect"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tolerance": -0.01}, "pop.jsonl:1: tolerance: must be a relative tolerance between 0 and 1"),
        ({"tolerance": 2}, "pop.jsonl:1: tolerance: must be a relative tolerance between 0 and 1"),
        ({"tolerance": "1%"}, "pop.jsonl:1: tolerance: must be a number between 0 and 1 (got '1%')"),
        ({"tolerance": 0.01, "grader": "exact"}, "tolerance: applies to the number grader, but this task's grader"),
    ],
)
def test_a_bad_tolerance_column_names_its_line(tmp_path: Path, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_suite(suite_file(tmp_path, **extra))


def test_a_tolerance_column_is_read(tmp_path: Path) -> None:
    task = load_suite(suite_file(tmp_path, tolerance=0.005, grader="number")).tasks[0]
    assert (task.tolerance, task.grader, task.metadata) == (0.005, "number", {})


def test_agentkit_eval_tolerance_on_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENTKIT_STORE"}
    with FakeProvider(OffByOne()) as fake:
        suite, config = suite_file(tmp_path), config_file(tmp_path, fake)
        graded = {}
        for extra in ([], ["--tolerance", "0.01"]):
            done = subprocess.run(
                [sys.executable, "-m", "agentkit", "eval", str(suite), "--config", str(config), "--store", "s.db",
                 "--grader", "number", "--json", *extra],
                cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            graded[" ".join(extra)] = json.loads(done.stdout)["correct"]
    assert graded == {"": 0, "--tolerance 0.01": 1}
