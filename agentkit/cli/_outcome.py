"""How a CLI run ends on the terminal: its result (text or ``--json``), and the one line for a
run stopped from outside (Ctrl-C, SIGTERM) or broken by an error, with the command that resumes
it. ``agentkit run``, ``resume`` and ``demo`` share them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from agentkit._text import clean_text
from agentkit.cli._common import (
    EXIT_OK,
    EXIT_RUN,
    EXIT_TERMINATED,
    BadStore,
    Terminated,
    debug_traceback,
    fail_input,
    out,
    say,
    store_flag,
)

if TYPE_CHECKING:
    from agentkit.run._runs import RunResult

__all__ = ["broken_run", "report_result", "result_json", "run_error", "stopped_from_outside"]


def report_result(result: RunResult, as_json: bool, files: list[Path] | None = None) -> NoReturn:
    from rich.text import Text

    from agentkit.store._codec import clean_model

    result = clean_model(result)  # a provider's lone surrogate must not break the output
    if as_json:
        data = result_json(result)
        data["report_files"] = [str(f) for f in files or []]
        out.print_json(json.dumps(data))
    else:
        style = {"finished": "green", "stopped": "yellow"}.get(result.status, "red")
        spent = (
            f"{result.steps} steps, {result.tool_calls} tool calls, {result.usage.prompt_tokens:,} prompt tokens "
            f"({result.usage.cached_tokens:,} cached), ${result.cost_usd:.4f}"
        )
        if result.status == "failed" and result.stop_reason:  # one line: what went wrong
            line = Text.assemble("\n", ("failed", f"bold {style}"), f" run {result.run_id}: {result.stop_reason}")
            if result.steps or result.usage.calls:
                line.append(f" (after {spent})")
            out.print(line, highlight=False, soft_wrap=True)
        else:
            out.print(Text.assemble("\n", (result.status, f"bold {style}"), f" run {result.run_id}: {spent}"))
            if result.stop_reason:
                out.print(Text.assemble(("reason:", style), " ", result.stop_reason), highlight=False)
        if result.answer:
            out.print(f"\n{result.answer}", highlight=False, markup=False)
        for f in files or []:
            out.print(f"report: {f}", highlight=False)
    raise typer.Exit(EXIT_OK if result.status == "finished" else EXIT_RUN)


def result_json(result: RunResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["usage"] = result.usage.model_dump()
    return data


def broken_run(
    exc: BaseException,
    run_id: str,
    location: str | Path,
    store_opt: str | None,
    as_json: bool,
    internal: bool,
    more: str = "",
) -> NoReturn:
    """A run ended by an error outside the loop's own handling: one line, its ``--json``
    object, exit 1. The store keeps everything committed before the error."""
    from agentkit.cli._runs import saved_run
    from agentkit.store import StoreCorrupt, StoreUnavailable

    saved = saved_run(location, run_id)
    if saved is None and isinstance(exc, StoreCorrupt | StoreUnavailable):
        fail_input(str(exc))  # a bad store, found at the run's first write: nothing started
    flag = store_flag(store_opt)
    what = f"internal error: {type(exc).__name__}: {exc}" if internal else str(exc)
    if saved is None:
        line = f"agentkit: {what} (nothing of run {run_id} was saved)"
    elif saved.status in ("interrupted", "running"):
        line = (
            f"agentkit: {what}. Run {run_id} is saved up to its last committed step; "
            f"resume it with: agentkit resume {run_id}{flag}{more}"
        )
    else:
        line = f"agentkit: {what} (run {run_id} saved; `agentkit show {run_id}{flag}`)"
    say(" ".join(line.split()))
    debug_traceback(exc)
    if as_json:
        data = {
            "run_id": run_id,
            "status": saved.status if saved else "failed",
            "answer": (saved.answer or "") if saved else "",
            "error": clean_text(what),
        }
        out.print_json(json.dumps(data))
    raise typer.Exit(EXIT_RUN)


def stopped_from_outside(
    run_id: str, location: str | Path, store_opt: str | None, as_json: bool, how: str, code: int, more: str = ""
) -> NoReturn:
    """Ctrl-C or SIGTERM: the loop marked the run interrupted; one line says how to go on."""
    from agentkit.cli._runs import saved_run

    saved = saved_run(location, run_id)
    if saved is None:
        say(f"{how}: run {run_id} had not started; nothing was saved")
    else:
        say(f"{how}: run {run_id} is saved; resume it with: agentkit resume {run_id}{store_flag(store_opt)}{more}")
    if as_json:
        status = saved.status if saved else "interrupted"
        answer = (saved.answer or "") if saved else ""
        data = {"run_id": run_id, "status": status, "answer": answer, "error": how}
        out.print_json(json.dumps(data))
    raise typer.Exit(code)


def run_error(
    exc: BaseException, run_id: str, location: str | Path, store_opt: str | None, as_json: bool, more: str = ""
) -> NoReturn:
    from agentkit.llm.errors import ConfigurationError
    from agentkit.store import RunBusy, StoreError, StoreFull
    from agentkit.tools.recall import MemoryRunNotFound

    if isinstance(exc, Terminated):
        stopped_from_outside(run_id, location, store_opt, as_json, "terminated (SIGTERM)", EXIT_TERMINATED, more)
    if isinstance(exc, BadStore):
        if isinstance(exc.error, StoreFull):
            broken_run(exc.error, run_id, location, store_opt, as_json, internal=False)
        fail_input(str(exc.error))
    from agentkit.run._fork import ForkError

    if isinstance(exc, ConfigurationError | RunBusy | MemoryRunNotFound | ForkError):
        fail_input(str(exc))
    if type(exc).__name__ == "ImageError":  # a task's image (agentkit.context.images): bad input, no run made
        fail_input(f"images: {exc}")
    if type(exc).__name__ == "VideoError":  # a task's video (agentkit.context.videos): bad input, no run made
        fail_input(f"videos: {exc}")
    # a store error, or a bug (internal): one line, the run saved as far as it got
    broken_run(exc, run_id, location, store_opt, as_json, internal=not isinstance(exc, StoreError), more=more)
