"""The eval runner in one process: the 20-task suite against the fake provider (real openai
SDK over loopback HTTP, real SQLite store), graded by exact match, numeric tolerance and an
LLM judge to exactly the accuracy the script implies; re-runs skip finished attempts, grade
ungraded ones without running them, retry failed ones; the cost budget; results files."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.eval.results import pass_at_k, read_rows, wilson_interval
from agentkit.eval.runner import EvalError, EvalOutcome, attempt_run_id, run_eval
from agentkit.eval.suites import load_suite
from agentkit.store import SQLiteStore
from agentkit.store.events import RunInfo, RunStarted, StatusChanged
from agentkit.task import Task, load_task
from agentkit.testing import FakeProvider, FakeRequest, HttpError, Turn

SUITE20 = Path(__file__).parents[1] / "fixtures" / "eval" / "suite20.jsonl"
TASKS: dict[str, dict[str, Any]] = {
    row["id"]: row for row in (json.loads(line) for line in SUITE20.read_text().splitlines())
}
WRONG = frozenset({"t03", "t07", "t11", "t14", "t20"})
"""The tasks the scripted model answers wrongly: 15 of 20 right."""
WRONG_ANSWER = "I believe it is 987654 (WRONG ANSWER)"
PLAN = "1. Answer the question."


def plain(task: dict[str, Any]) -> str:
    return str(task["answer"])


class SuiteModel:
    """A responder for the fake: the agent answers suite20 (right except ``wrong``), and the
    judge (requests for the model named ``judge``) says A when the predicted answer is right,
    B when it is the scripted wrong one. Counts answer requests per task and judge calls."""

    def __init__(
        self,
        wrong: frozenset[str] = WRONG,
        style: Any = plain,
        fail: frozenset[str] = frozenset(),
    ) -> None:
        self.wrong, self.style, self.fail = wrong, style, fail
        self.answers: Counter[str] = Counter()
        self.judged: Counter[str] = Counter()
        self.lock = threading.Lock()

    @staticmethod
    def task_of(req: FakeRequest) -> str:
        text = req.text()
        found = [tid for tid, t in TASKS.items() if t["question"] in text]
        assert len(found) == 1, text[:400]
        return found[0]

    def __call__(self, req: FakeRequest) -> Turn | HttpError:
        task_id = self.task_of(req)
        if req.body.get("model") == "judge":
            with self.lock:
                self.judged[task_id] += 1
            return Turn(content="B" if "WRONG ANSWER" in req.text() else "A", reasoning="checking")
        if not req.tools:
            return Turn(content=PLAN)
        if task_id in self.fail:
            return HttpError(400, "Invalid request: scripted failure")
        with self.lock:
            self.answers[task_id] += 1
        return Turn(content=WRONG_ANSWER if task_id in self.wrong else self.style(TASKS[task_id]))


def write_config(tmp_path: Path, fake: FakeProvider, extra: str = "", name: str = "config.yaml") -> Path:
    """An eval config without ``task:``: the fake as model (priced) and as judge (priced)."""
    path = tmp_path / name
    path.write_text(
        f"model: {{provider: custom, base_url: '{fake.base_url}', prices: {{input: 1.0, output: 2.0}}}}\n"
        "tools: []\n"
        f"eval: {{judge: {{provider: custom, name: judge, base_url: '{fake.base_url}', "
        "prices: {input: 10.0, output: 10.0}}}\n" + extra
    )
    return path


def config_of(tmp_path: Path, fake: FakeProvider, extra: str = "") -> Task:
    return load_task(write_config(tmp_path, fake, extra), require_task=False)


def run(tmp_path: Path, config: Task, suite: Path = SUITE20, **options: Any) -> EvalOutcome:
    options.setdefault("concurrency", 4)
    go = functools.partial(
        run_eval,
        load_suite(suite),
        config,
        store=tmp_path / "store.db",
        workdir=tmp_path / "runs",
        out_dir=tmp_path / "out",
        **options,
    )
    return anyio.run(go)


def verdicts(outcome: EvalOutcome) -> dict[str, str | None]:
    return {r.id: r.grade for r in outcome.rows}


def test_exact_grading_scores_the_scripted_accuracy_and_writes_one_row_per_attempt(tmp_path: Path) -> None:
    model = SuiteModel()
    with FakeProvider(model) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake), grader="exact")
    s = outcome.summary
    assert (s.tasks, s.runs, s.graded, s.correct, s.failed, s.not_run) == (20, 20, 20, 15, 0, 0)
    assert s.accuracy == 0.75 and s.complete
    assert {tid for tid, v in verdicts(outcome).items() if v != "correct"} == WRONG
    assert all(n == 1 for n in model.answers.values()) and len(model.answers) == 20
    assert sum(model.judged.values()) == 0  # exact and number tasks never ask the judge
    rows = read_rows(outcome.results)
    assert [r.id for r in rows] == list(TASKS)  # suite order
    first = json.loads(outcome.results.read_text().splitlines()[0])
    assert set(first) >= {
        "id",
        "run_id",
        "attempt",
        "status",
        "answer",
        "expected",
        "grade",
        "grader",
        "reasoning",
        "cost_usd",
        "tokens",
        "steps",
        "seconds",
    }
    t01 = rows[0]
    assert (t01.run_id, t01.attempt, t01.status, t01.answer, t01.expected) == (
        attempt_run_id(load_suite(SUITE20).content_hash, "t01", 0),
        0,
        "finished",
        "51",
        "51",
    )
    assert t01.grader == "exact" and t01.steps == 1 and t01.tokens > 0 and t01.cost_usd > 0
    assert rows[7].grader == "number"  # t08 names its own grader
    assert s.cost_usd == pytest.approx(sum(r.cost_usd for r in rows))


def test_number_grading_accepts_numbers_written_differently(tmp_path: Path) -> None:
    """Right answers written as prose around the number ("about 1,024.0000"): the number grader
    takes them (15/20), the same numbers written differently; GAIA's exact match does not take
    the numeric ones."""

    def prose(task: dict[str, Any]) -> str:
        try:
            return f"about {float(task['answer']):,.4f}"
        except ValueError:
            return str(task["answer"])

    with FakeProvider(SuiteModel(style=prose)) as fake:
        config = config_of(tmp_path, fake)
        numbered = run(tmp_path, config, grader="number")
    assert numbered.summary.correct == 15 and numbered.summary.accuracy == 0.75
    assert {r.id for r in numbered.rows if r.grade != "correct"} == WRONG
    assert numbered.rows[0].grader == "number" and numbered.rows[2].grader == "exact"  # Paris is no number
    with FakeProvider(SuiteModel(style=prose)) as fake:
        exact = run(tmp_path / "x", config_of(tmp_path, fake), grader="exact")
    numeric = {tid for tid, t in TASKS.items() if re.fullmatch(r"[\d.]+", t["answer"]) and tid not in WRONG}
    assert {r.id for r in exact.rows if r.grade == "correct"}.isdisjoint(numeric - {"t08", "t14"})


def test_judge_grading_counts_the_judges_cost_and_never_judges_twice(tmp_path: Path) -> None:
    model = SuiteModel()
    with FakeProvider(model) as fake:
        config = config_of(tmp_path, fake)
        outcome = run(tmp_path, config, grader="judge")
        s = outcome.summary
        # t08 and t14 keep their own number grader; every other task goes to the judge once
        assert s.correct == 15 and s.accuracy == 0.75
        assert set(model.judged) == set(TASKS) - {"t08", "t14"} and set(model.judged.values()) == {1}
        judged = [r for r in outcome.rows if r.grader == "judge"]
        assert all(r.judge_cost_usd > 0 and "checking" in r.reasoning for r in judged)
        assert s.judge_cost_usd == pytest.approx(sum(r.judge_cost_usd for r in judged))
        assert s.cost_usd > s.judge_cost_usd > 0
        requests = fake.request_count
        again = run(tmp_path, config, grader="judge")
        assert fake.request_count == requests  # nothing run, nothing judged: grades come from the store
    assert again.summary == s
    assert read_rows(again.results) == read_rows(outcome.results)


def test_a_finished_attempt_without_a_grade_is_graded_not_run_again(tmp_path: Path) -> None:
    """The eval died between a run's end and storing its grade: the re-run grades the stored
    answer and asks the model nothing."""
    model = SuiteModel()
    with FakeProvider(model) as fake:
        config = config_of(tmp_path, fake)
        first = run(tmp_path, config, grader="judge")
        t05 = first.rows[4]

        async def forget_grade() -> None:
            async with SQLiteStore(tmp_path / "store.db") as store:
                info = await store.get_run(t05.run_id)
                config = {k: v for k, v in info.config.items() if k != "eval"}
                await store.update_run(t05.run_id, config=config)

        anyio.run(forget_grade)
        answers, judged = sum(model.answers.values()), sum(model.judged.values())
        second = run(tmp_path, config, grader="judge")
    assert sum(model.answers.values()) == answers  # the run was not started again
    assert sum(model.judged.values()) == judged + 1 and model.judged["t05"] == 2
    assert second.rows[4].grade == "correct" and second.summary.correct == 15


def test_attempts_are_runs_tagged_with_the_suite_and_task(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake), attempts=2)

    async def read() -> list[Any]:
        async with SQLiteStore(tmp_path / "store.db") as store:
            return [await store.get_run(r.run_id) for r in outcome.rows]

    infos = anyio.run(read)
    assert len({i.id for i in infos}) == 40
    t01 = [i for i in infos if i.task == TASKS["t01"]["question"]]
    assert sorted(i.label or "" for i in t01) == ["eval suite20 t01 #0", "eval suite20 t01 #1"]
    record = t01[0].config["eval"]
    assert record["suite"] == "suite20" and record["task_id"] == "t01" and record["grade"]["verdict"] == "correct"
    assert t01[0].config["task_spec"]["output"]["report"] is False  # no report phase in an eval


def test_a_report_is_written_only_when_the_config_asks(tmp_path: Path) -> None:
    from agentkit.report import load_report

    with FakeProvider(SuiteModel()) as fake:
        asked = config_of(tmp_path, fake, "output: {report: true}\n")
        outcome = run(tmp_path, asked, suite=one_task_suite(tmp_path))

    async def report_of(run_id: str) -> object:
        async with SQLiteStore(tmp_path / "store.db") as store:
            return await load_report(store, run_id)

    assert outcome.summary.correct == 1 and anyio.run(report_of, outcome.rows[0].run_id) is not None


def one_task_suite(tmp_path: Path) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(SUITE20.read_text().splitlines()[0] + "\n")
    return path


def test_pass_at_k_over_attempts(tmp_path: Path) -> None:
    """K=3: t01 is right only on its second try, t02 never, the rest always (one attempt at a
    time, so the attempts of a task come in order)."""

    class Flaky(SuiteModel):
        def __call__(self, req: FakeRequest) -> Turn | HttpError:
            task_id = self.task_of(req)
            if req.tools and task_id in ("t01", "t02"):
                with self.lock:
                    self.answers[task_id] += 1
                    right = task_id == "t01" and self.answers[task_id] == 2
                return Turn(content=plain(TASKS[task_id]) if right else WRONG_ANSWER)
            return super().__call__(req)

    with FakeProvider(Flaky(wrong=frozenset())) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake), attempts=3, concurrency=1)
    s = outcome.summary
    assert (s.runs, s.graded, s.correct) == (60, 60, 55)
    # per task: 18 tasks 3/3, t01 1/3, t02 0/3
    assert s.pass_at_k["1"] == pytest.approx((18 + 1 / 3) / 20)
    assert s.pass_at_k["2"] == pytest.approx((18 + 2 / 3) / 20)
    assert s.pass_at_k["3"] == pytest.approx(19 / 20)
    assert "pass@3 95.0%" in outcome.summary_md.read_text()


def test_cost_budget_stops_new_attempts_and_a_rerun_finishes_them(tmp_path: Path) -> None:
    model = SuiteModel()
    with FakeProvider(model) as fake:
        config = config_of(tmp_path, fake, "")
        # spent once the first attempts end: no further attempt starts; the 3 running finish
        tight = config.model_copy(update={"eval": config.eval.model_copy(update={"max_cost_usd": 1e-9})})  # type: ignore[union-attr]
        stopped = run(tmp_path, tight, concurrency=3)
        s = stopped.summary
        assert (s.graded, s.not_run, s.complete) == (3, 17, False)
        assert sum(model.answers.values()) == 3
        assert [r.status for r in stopped.rows].count("not_run") == 17
        assert "not run" in stopped.summary_md.read_text()
        rest = run(tmp_path, config, concurrency=3)
    assert rest.summary.complete and rest.summary.correct == 15
    assert sum(model.answers.values()) == 20  # the 3 that ran were not run again


def test_a_failed_attempt_is_tried_again_as_a_new_run_on_rerun(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel(fail=frozenset({"t05"}))) as fake:
        config = config_of(tmp_path, fake)
        first = run(tmp_path, config)
    t05 = first.rows[4]
    assert t05.status == "failed" and t05.grade == "not_attempted" and "scripted failure" in (t05.error or "")
    assert first.summary.failed == 1 and not first.summary.complete
    model = SuiteModel()
    with FakeProvider(model) as fake:
        second = run(tmp_path, config_of(tmp_path, fake))
    assert set(model.answers) == {"t05"}  # only the failed attempt ran again
    retried = second.rows[4]
    assert retried.run_id == f"{t05.run_id}-2" and retried.grade == "correct" and second.summary.complete

    async def kept() -> str:
        async with SQLiteStore(tmp_path / "store.db") as store:
            return (await store.get_run(t05.run_id)).status

    assert anyio.run(kept) == "failed"  # the failed try stays in the store as it was


def test_interrupted_attempts_are_resumed_not_restarted(tmp_path: Path) -> None:
    """Cancel an eval while an attempt waits on the model: its run is left interrupted; the
    re-run resumes it (same id, no second RunStarted) and finishes the suite. (The responder
    runs under the fake's lock, so the other request in flight waits behind the held one.)"""
    release = threading.Event()
    waiting = threading.Semaphore(0)
    model = SuiteModel()

    def held(req: FakeRequest) -> Turn | HttpError:
        if req.tools and not release.is_set():
            waiting.release()
            release.wait(30)
            return Turn(content="(cut off)")
        return model(req)

    with FakeProvider(held) as fake:
        config = config_of(tmp_path, fake)

        async def cancelled() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(run, tmp_path, config))
                await anyio.to_thread.run_sync(waiting.acquire)  # an attempt waits for its answer
                tg.cancel_scope.cancel()
                release.set()  # the held replies go to clients that are gone

        def run(tmp: Path, cfg: Task) -> Any:
            return run_eval(
                load_suite(SUITE20),
                cfg,
                store=tmp / "store.db",
                workdir=tmp / "runs",
                out_dir=tmp / "out",
                concurrency=2,
            )

        anyio.run(cancelled)

        async def statuses() -> dict[str, str]:
            async with SQLiteStore(tmp_path / "store.db") as store:
                return {r.id: r.status for r in await store.list_runs()}

        before = anyio.run(statuses)  # the held attempt, and the other one if it had started
        assert 1 <= len(before) <= 2 and set(before.values()) == {"interrupted"}
        outcome = anyio.run(lambda: run(tmp_path, config))
    assert outcome.summary.complete and outcome.summary.correct == 15

    async def events(run_id: str) -> list[Any]:
        async with SQLiteStore(tmp_path / "store.db") as store:
            return [e.event for e in await store.events(run_id)]

    for run_id in before:
        trace = anyio.run(events, run_id)
        assert sum(isinstance(e, RunStarted) for e in trace) == 1
        assert any(isinstance(e, StatusChanged) and e.reason == "resumed" for e in trace)


def test_an_attempt_killed_before_its_first_event_is_started_on_its_question(tmp_path: Path) -> None:
    """A process killed between creating an attempt's run row and writing its first event (seen
    on Ray when a worker is SIGKILLed): the run is started on its question, not resumed as an
    empty run (which would send the model no question at all)."""
    suite = load_suite(SUITE20)
    run_id = attempt_run_id(suite.content_hash, "t01", 0)

    async def orphan_row() -> None:
        async with SQLiteStore(tmp_path / "store.db") as store:
            await store.create_run(RunInfo(id=run_id, task=TASKS["t01"]["question"]))

    anyio.run(orphan_row)
    model = SuiteModel()
    with FakeProvider(model) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake), concurrency=1)
        assert not fake.errors
    assert outcome.rows[0].run_id == run_id and outcome.rows[0].grade == "correct"
    assert outcome.summary.complete and outcome.summary.correct == 15


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel(), latency_s=0.05) as fake:
        run(tmp_path, config_of(tmp_path, fake), concurrency=3)
        assert 1 < fake.max_in_flight <= 3


def test_a_store_holding_another_configs_attempts_is_refused(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        run(tmp_path, config_of(tmp_path, fake))
        other = config_of(tmp_path, fake).model_copy(deep=True)
        other.model.name = "another-model"
        with pytest.raises(EvalError, match=r"another config.*another-model"):
            run(tmp_path, other)


def test_attached_files_are_copied_into_the_runs_work_dir(tmp_path: Path) -> None:
    suite = tmp_path / "suite" / "files.jsonl"
    suite.parent.mkdir()
    (suite.parent / "data.csv").write_text("x\n51\n")
    row = {"id": "t01", "question": TASKS["t01"]["question"], "answer": "51", "files": ["data.csv"]}
    suite.write_text(json.dumps(row) + "\n")
    with FakeProvider(SuiteModel()) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake), suite=suite)
        asked = fake.requests[-1].text()
    assert "Attached files (in your working directory): data.csv" in asked
    assert (tmp_path / "runs" / outcome.rows[0].run_id / "data.csv").read_text() == "x\n51\n"
    assert outcome.summary.correct == 1


def test_summary_files(tmp_path: Path) -> None:
    with FakeProvider(SuiteModel()) as fake:
        outcome = run(tmp_path, config_of(tmp_path, fake))
    md = outcome.summary_md.read_text()
    assert "15/20 = 75.0% (95% Wilson interval 53.1%-88.8%)" in md
    assert "| t03 | 0/1 |" in md and "steps per attempt" in md
    page = outcome.summary_html.read_text()
    assert page.count("<svg") == 3 and page.count("<figure>") == 3
    # self-contained: nothing fetched when it opens
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\((?!#)", page)  # only references inside the page
    assert "WRONG ANSWER" in page  # answers are shown, escaped
    assert outcome.out_dir == tmp_path / "out"


def test_wilson_interval_and_pass_at_k() -> None:
    # Wilson 95% for 15/20, written out from the formula's other common form
    z, n, p = 1.959963984540054, 20, 0.75
    centre = (2 * n * p + z * z) / (2 * (n + z * z))
    half = z * (z * z + 4 * n * p * (1 - p)) ** 0.5 / (2 * (n + z * z))
    low, high = wilson_interval(15, 20)
    assert (low, high) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert wilson_interval(0, 0) == (0.0, 0.0) and wilson_interval(5, 5)[1] == 1.0
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 2) == pytest.approx(2 / 3)
    assert pass_at_k(3, 0, 3) == 0.0 and pass_at_k(5, 4, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the bar shows done/total, running, failed, accuracy and cost so far."""
    import io

    from rich.console import Console

    from agentkit.eval._run_progress import LiveProgress

    screen = io.StringIO()
    progress = LiveProgress(Console(file=screen, force_terminal=True, width=160))
    with FakeProvider(SuiteModel()) as fake, progress:
        run(tmp_path, config_of(tmp_path, fake), progress=progress)
    shown = screen.getvalue()
    assert "20/20" in shown and "accuracy 15/20 = 75.0%" in shown and "failed 0" in shown
    assert "\x1b[" in shown  # drawn in place
