"""What every process of an eval needs to settle attempts, as plain data (it travels to Ray
workers), and how a process turns it into a live :class:`AttemptContext`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agentkit.eval._run_attempt import AttemptContext
from agentkit.task import ModelSpec, Task

LOCAL_RAY = "local"
"""``ray=LOCAL_RAY``: start (or join) a Ray cluster on this machine."""


class EvalError(ValueError):
    """An eval that cannot start as asked (one complete message; nothing was run)."""


class WorkerPlan(BaseModel):
    """The eval's settings shared by all its attempts."""

    store: str
    """The store's location (a path or a URL), opened by each process."""
    config: dict[str, Any]
    """The eval config (a task spec: model, tools, limits, heavy), with its credentials'
    variable names only; ``task`` is replaced by each suite task's question."""
    judge: dict[str, Any] | None
    """The judge's model spec; ``None``: no task is graded by a judge."""
    template: Literal["simpleqa", "browsecomp"] = "simpleqa"
    default_grader: str
    tolerance: float | None = None
    """The ``number`` grader's relative tolerance (``None``: exact)."""
    workdir: str
    suite: str
    content_hash: str

    def task(self) -> Task:
        return Task.from_mapping(self.config, source="eval config")


def eval_config(config: Task) -> Task:
    """The config each attempt runs with: its ``eval`` section is the eval's own, and a report
    is written only when the config asks for one in so many words (``output: {report: true}``):
    grading reads the answer, and a report costs model calls nobody grades."""
    asked = "report" in config.output.model_fields_set
    output = config.output.model_copy(update={"report": config.output.report and asked})
    return config.model_copy(update={"output": output, "eval": None})


def judge_spec(config: Task, name: str | None = None) -> ModelSpec:
    """The judge's model: ``eval.judge`` of the config, else the config's own model; ``name``
    (``--judge-model``) replaces its model name."""
    spec = config.eval.judge if config.eval is not None and config.eval.judge is not None else config.model
    return spec.model_copy(update={"name": name}) if name else spec


@asynccontextmanager
async def open_context(plan: WorkerPlan) -> AsyncIterator[AttemptContext]:
    """One process's context: the store opened by location, one model client shared by its
    attempts and one judge; all closed on exit."""
    from agentkit.eval.graders import JudgeGrader
    from agentkit.run._from_task import model_from_task
    from agentkit.store import open_store

    config = plan.task()
    store = open_store(plan.store)
    llm = model_from_task(config)
    judge_llm = None
    try:
        await store.open()
        judge = None
        if plan.judge is not None:
            judge_task = config.model_copy(update={"model": ModelSpec.model_validate(plan.judge)})
            judge_llm = model_from_task(judge_task)
            judge = JudgeGrader(judge_llm, template=plan.template)
        yield AttemptContext(
            store=store,
            config=config,
            llm=llm,
            judge=judge,
            default_grader=plan.default_grader,
            tolerance=plan.tolerance,
            workdir=Path(plan.workdir),
            suite=plan.suite,
            content_hash=plan.content_hash,
        )
    finally:
        await llm.aclose()
        if judge_llm is not None:
            await judge_llm.aclose()
        await store.aclose()
