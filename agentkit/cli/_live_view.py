"""The CLI's view of a run in progress: a live panel on a terminal, plain log lines otherwise.

The panel is rendered afresh on every refresh (rich's auto refresh calls :meth:`LiveView.render`),
so the elapsed time and "waiting for the model… 12 s" tick while nothing happens. Model and tool
text is data: it goes in as :class:`~rich.text.Text`, never parsed as markup; and registered
secrets (API keys, :func:`agentkit._redact.register_secret`) are masked in all of it: live
events carry the model's and tools' text before the store masks it.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.text import Text

from agentkit._redact import mask_secrets

if TYPE_CHECKING:  # imported by the CLI at start-up: nothing heavy at module level
    from rich.live import Live

    from agentkit.run.live import AgentEvent, ModelRetrying, Notice

err = Console(stderr=True)

_PLAN_LINES = 6


@dataclass
class _Run:
    """What the view knows of one run (the run itself, or a trajectory in heavy mode)."""

    step: int = 0
    tool: str = ""
    status: str = "running"
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    call_started: float | None = None
    """When the model call in progress began (``None``: no call in progress)."""
    streaming: str = ""
    """``thinking`` or ``writing`` once the call's stream has begun."""
    retry: ModelRetrying | None = None
    retry_at: float = 0.0
    progress: str = ""
    """The running tool's last progress report (``3/5 (60%) indexing``)."""
    progress_mark: tuple[object, ...] = ()

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def activity(self, now: float) -> str:
        """What the run waits for, ticking: ``waiting for the model… 12 s``, a retry's countdown."""
        if self.call_started is None:
            return ""
        waited = int(now - self.call_started)
        retry = self.retry
        if retry is not None:
            left = round(self.retry_at - now)
            if left > 0:
                return f"retry {retry.attempt}/{retry.retries} in {left} s: {mask_secrets(retry.reason)}"
            return (
                f"retry {retry.attempt}/{retry.retries} after {mask_secrets(retry.reason)}: "
                f"waiting for the model… {waited} s"
            )
        if self.streaming:
            return f"model {self.streaming}… {waited} s"
        return f"waiting for the model… {waited} s"


def _short(run_id: str) -> str:
    return run_id.rsplit(".", 1)[-1]


class LiveView:
    """Progress on stderr: a live panel on a terminal, plain log lines otherwise.

    ``run_id``, ``task``, ``model``, ``provider`` and ``endpoint`` fill the panel's header from
    the start (the run's first event confirms them). ``console``, ``terminal`` and ``clock``
    exist for tests: another console, forcing the panel on or off, a clock to advance.
    """

    def __init__(
        self,
        max_steps: int,
        window: int,
        enabled: bool = True,
        *,
        run_id: str = "",
        task: str = "",
        model: str = "",
        provider: str = "",
        endpoint: str = "",
        console: Console | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_steps, self.window = max_steps, window
        self.run_id, self.model, self.provider, self.endpoint = run_id, model, provider, endpoint
        self.task = mask_secrets(task)
        self.plan, self.plan_revised = "", False
        self.context = 0
        self.clock = clock
        self.started = clock()
        self.runs: dict[str, _Run] = {}
        self.files: list[Path] = []
        self.console = console or err
        self.tty = (self.console.is_terminal if terminal is None else terminal) and enabled
        self.quiet = not enabled
        self._held: dict[str, Notice] = {}
        """Error notices held back, by run: the run's end usually says the same (said once)."""
        self.live: Live | None = None
        if self.tty:
            from rich.live import Live

            self.live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4)

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for run_id in list(self._held):
            self._release(run_id)
        if self.live:
            self.live.refresh()
            self.live.stop()

    # what is shown (render runs in rich's refresh thread: it only reads)
    def _main(self) -> _Run:
        return self.runs.get(self.run_id) or _Run()

    @property
    def trajectories(self) -> dict[str, _Run]:
        """Heavy mode: the child runs (ids with a dot), in order."""
        return {k: v for k, v in sorted(self.runs.items()) if "." in k}

    @property
    def step(self) -> int:
        return self._main().step

    @property
    def cost(self) -> float:
        return sum(r.cost for r in self.runs.values())

    def render(self) -> RenderableType:
        from rich.table import Table

        now = self.clock()
        runs = list(self.runs.values())
        main = self._main()
        bold = "bold"
        head = Table.grid(padding=(0, 1))
        head.add_column(style=bold, no_wrap=True)
        head.add_column()
        head.add_row("run", Text(self.run_id or "-"))
        where = Text(self.model or "-")
        if self.provider:
            where.append(f" ({self.provider})")
        if self.endpoint:
            where.append(f"  {self.endpoint}", style="dim")
        head.add_row("model", where)
        task = self.task.strip().splitlines()[0] if self.task.strip() else "-"
        head.add_row("task", Text(task[:160] + ("…" if len(task) > 160 else "")))
        if self.plan:
            lines = self.plan.strip().splitlines()
            shown = "\n".join(lines[:_PLAN_LINES]) + (
                f"\n… ({len(lines) - _PLAN_LINES} more lines)" if len(lines) > _PLAN_LINES else ""
            )
            head.add_row("revised plan" if self.plan_revised else "plan", Text(shown))

        grid = Table.grid(padding=(0, 2))
        elapsed = _dt.timedelta(seconds=int(now - self.started))
        prompt = sum(r.prompt_tokens for r in runs)
        cached = sum(r.cached_tokens for r in runs)
        total = sum(r.tokens for r in runs)
        share = f" ({cached / prompt:.0%} of prompt cached)" if prompt else ""
        pct = f" ({self.context / self.window:.0%})" if self.window else ""
        grid.add_row(Text("step", bold), f"{main.step}/{self.max_steps}", Text("elapsed", bold), str(elapsed))
        grid.add_row(
            Text("context", bold),
            f"{self.context:,}/{self.window:,} tokens{pct}",
            Text("cost", bold),
            f"${self.cost:.4f}",
        )
        grid.add_row(Text("tokens", bold), f"{total:,}{share}", "", "")
        activity = main.activity(now)
        if activity:
            grid.add_row(Text("model", bold), Text(activity), "", "")
        grid.add_row(Text("tool", bold), Text(main.tool or "-"), "", "")
        if main.progress:
            grid.add_row(Text("progress", bold), Text(main.progress), "", "")

        parts: list[RenderableType] = [head, grid]
        trajectories = self.trajectories
        if trajectories:
            rows = Table.grid(padding=(0, 2))
            for run_id, run in trajectories.items():
                rows.add_row(
                    Text(f"  {_short(run_id):>3}"),
                    Text(run.status),
                    f"step {run.step}",
                    f"{run.tokens:,} tokens",
                    f"${run.cost:.4f}",
                    Text((run.activity(now) or " ".join(filter(None, (run.tool, run.progress))))[:60]),
                )
            parts.append(rows)
        return Group(*parts)

    def log(self, line: str) -> None:
        if self.quiet:
            return
        line = mask_secrets(line)
        if self.live:  # model and tool text is data: never parsed as markup
            self.live.console.print(line, highlight=False, markup=False)
        else:
            stamp = _dt.datetime.now().strftime("%H:%M:%S")
            self.console.print(f"{stamp} {line}", highlight=False, markup=False, soft_wrap=True)

    def _release(self, run_id: str) -> None:
        """Print the error notice held back to see whether the run's end repeats it."""
        held = self._held.pop(run_id, None)
        if held is not None:
            p = f"[{_short(run_id)}] " if "." in run_id else ""
            self.log(f"{p}[{held.level}] {held.message}")

    # what happens
    def __call__(self, event: AgentEvent) -> None:
        held = self._held.get(event.run_id)
        if held is not None:
            if event.kind == "run_ended" and event.stop_reason == held.message:
                del self._held[event.run_id]  # its end says it (the run itself: the command's last line)
            else:
                self._release(event.run_id)
        now = self.clock()
        run = self.runs.setdefault(event.run_id, _Run())
        child = "." in event.run_id
        p = f"[{_short(event.run_id)}] " if child else ""  # a trajectory
        if event.kind == "run_began":
            if not child or not self.model:
                self.model = event.model or self.model
                self.provider = event.provider or self.provider
                self.endpoint = event.endpoint or self.endpoint
            if not child:
                self.run_id = self.run_id or event.run_id
            self.task = mask_secrets((event.task if not child else "") or self.task or event.task)
        elif event.kind == "plan":
            if not child:
                self.plan, self.plan_revised = mask_secrets(event.plan), event.revised
            title = "revised plan" if event.revised else "plan"
            self.log(f"{p}{title}:\n{event.plan.strip()}" if not self.tty else f"{p}{title} made")
        elif event.kind == "turn_started":
            run.step = event.step
            run.call_started, run.streaming, run.retry = now, "", None
            if not child:
                self.context = event.context_tokens or self.context
            if not self.tty:
                self.log(f"{p}{event.phase} turn {event.step}/{event.max_steps}")
        elif event.kind == "model_retry":
            run.retry, run.retry_at, run.streaming = event, now + event.delay_s, ""
            self.log(f"{p}model call: {event.describe()}")
        elif event.kind in ("reasoning_delta", "content_delta"):
            run.retry = None
            run.streaming = "thinking" if event.kind == "reasoning_delta" else "writing"
        elif event.kind == "stream_restarted":
            run.streaming = ""
        elif event.kind == "tool_call":
            arguments = mask_secrets(event.call.arguments)  # before it is cut: no key's first half either
            run.tool, run.progress = f"{event.call.name} {arguments[:80]}", ""
            self.log(f"{p}  -> {event.call.name} {arguments[:120]}")
        elif event.kind == "tool_progress":
            run.progress = mask_secrets(f"{event.name} {event.describe()}")[:120]
            tenth = int(10 * event.progress / event.total) if event.total else event.progress
            seen = (event.call_id, tenth, event.message)  # a plain log says each tenth, or each new message
            if not self.tty and seen != run.progress_mark:
                run.progress_mark = seen
                self.log(f"{p}  .. {run.progress}")
        elif event.kind == "tool_result":
            run.progress = ""
            mark = "!!" if event.is_error else "<-"
            self.log(f"{p}  {mark} {event.name} ({event.duration_s:.1f}s) {mask_secrets(event.preview)[:100]!r}")
        elif event.kind == "usage":
            run.call_started, run.retry, run.streaming = None, None, ""
            run.prompt_tokens, run.cached_tokens = event.total.prompt_tokens, event.total.cached_tokens
            run.completion_tokens, run.cost = event.total.completion_tokens, event.cost_usd
            if not child:
                self.context = event.context_tokens
                self.window = event.window or self.window
        elif event.kind == "notice":
            if event.level == "error":
                self._held[event.run_id] = event  # shown unless the run's end says the same
            else:
                self.log(f"{p}[{event.level}] {event.message}")
        elif event.kind == "run_ended":
            run.status, run.tool, run.call_started = event.status, "", None
            if child and event.status != "finished" and event.stop_reason:
                self.log(f"{p}{event.status}: {event.stop_reason}")
