"""``agentkit eval SUITE --replay-from EVAL_DIR``: a finished eval graded again from its stored
runs with a new grader, and reported again, without running an attempt or calling a model (no
provider is listening while it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_cli_eval import agentkit, eval_args
from test_runner import TASKS, SuiteModel, write_config

from agentkit.eval.results import read_rows
from agentkit.testing import FakeProvider


def near(task: dict[str, Any]) -> str:
    """Numbers 0.4% off (right within a 1% tolerance, wrong exactly); the rest as they are."""
    answer = str(task["answer"])
    try:
        return f"{float(answer) * 1.004:g}"
    except ValueError:
        return answer


def test_replay_from_regrades_with_a_new_grader_without_a_model(tmp_path: Path) -> None:
    numeric = sum(1 for t in TASKS.values() if _is_number(t["answer"]))
    with FakeProvider(SuiteModel(style=near)) as fake:
        config = write_config(tmp_path, fake)
        first = agentkit(*eval_args(tmp_path, config, "--json", "--grader", "number"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout)
    store = str(tmp_path / "s.db")
    # the provider is gone: an attempt or a judge call now would fail
    again = agentkit(
        "eval", str(_suite()), "--replay-from", "out", "--grader", "number", "--tolerance", "0.01",
        "--store", store, "--out", "regraded", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    after = json.loads(again.stdout)
    assert after["correct"] == before["correct"] + _wrong_numbers(numeric)
    assert (after["tasks"], after["attempts"]) == (before["tasks"], before["attempts"])
    assert after["cost_usd"] == before["cost_usd"]  # nothing was spent
    rows = read_rows(tmp_path / "regraded" / "results.jsonl")
    assert len(rows) == 20 and all(r.grader == "number" for r in rows if _is_number(r.expected))
    assert (tmp_path / "regraded" / "summary.md").is_file() and (tmp_path / "regraded" / "summary.html").is_file()
    assert len(read_rows(tmp_path / "out" / "results.jsonl")) == 20  # the original is kept
    for bad, expected in (
        (["--replay-from", "nowhere"], "no results.jsonl there"),
        (["--replay-from", "out", "--grader", "judge"], "without calling a model"),
    ):
        done = agentkit("eval", str(_suite()), *bad, "--store", store, cwd=tmp_path)
        assert done.returncode == 2 and expected in done.stderr + done.stdout
        assert "Traceback" not in done.stderr


def _suite() -> Path:
    from test_runner import SUITE20

    return SUITE20


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrong_numbers(numeric: int) -> int:
    """Numeric tasks the model answered 0.4% off (the scripted wrong ones stay wrong)."""
    from test_runner import WRONG

    return sum(
        1 for tid, t in TASKS.items() if _is_number(str(t["answer"])) and tid not in WRONG and float(t["answer"]) != 0
    )
