"""The CLI's view of a run in progress: a live panel on a terminal, plain log lines otherwise."""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentkit.live import AgentEvent

err = Console(stderr=True)


class LiveView:
    """Progress on stderr: a live panel on a terminal, plain log lines otherwise."""

    def __init__(self, max_steps: int, window: int, enabled: bool = True) -> None:
        self.max_steps, self.window = max_steps, window
        self.step, self.tool, self.context, self.cost = 0, "", 0, 0.0
        self.started = time.monotonic()
        self.trajectories: dict[str, list[str]] = {}
        self.files: list[Path] = []
        """Heavy mode: per child run, [step, current tool, status]."""
        self.tty = err.is_terminal and enabled
        self.quiet = not enabled
        self.live: Live | None = Live(self.render(), console=err, refresh_per_second=4) if self.tty else None

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.update(self.render())
            self.live.stop()

    def render(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        elapsed = _dt.timedelta(seconds=int(time.monotonic() - self.started))
        grid.add_row("[bold]step[/]", f"{self.step}/{self.max_steps}", "[bold]elapsed[/]", str(elapsed))
        pct = f" ({self.context / self.window:.0%})" if self.window else ""
        grid.add_row(
            "[bold]context[/]", f"{self.context:,}/{self.window:,} tokens{pct}", "[bold]cost[/]", f"${self.cost:.4f}"
        )
        grid.add_row("[bold]tool[/]", self.tool or "-", "", "")
        for run_id, (step, tool, status) in sorted(self.trajectories.items()):
            grid.add_row(f"  {run_id.rsplit('.', 1)[-1]:>3}", f"step {step}", status, tool[:50])
        return grid

    def track(self, event: AgentEvent) -> None:
        if "." not in event.run_id:
            return
        row = self.trajectories.setdefault(event.run_id, ["0", "", "running"])
        if event.kind == "turn_started":
            row[0] = str(event.step)
        elif event.kind == "tool_call":
            row[1] = event.call.name
        elif event.kind == "run_ended":
            row[2], row[1] = event.status, ""

    def log(self, line: str) -> None:
        if self.quiet:
            return
        if self.live:  # model and tool text is data: never parsed as markup
            self.live.console.print(line, highlight=False, markup=False)
        else:
            err.print(f"{_dt.datetime.now():%H:%M:%S} {line}", highlight=False, markup=False, soft_wrap=True)

    def __call__(self, event: AgentEvent) -> None:
        self.track(event)
        p = f"[{event.run_id.rsplit('.', 1)[-1]}] " if "." in event.run_id else ""  # a trajectory
        if event.kind == "turn_started":
            self.step = event.step
            if not self.tty:
                self.log(f"{p}{event.phase} turn {event.step}/{event.max_steps}")
        elif event.kind == "tool_call":
            self.tool = f"{event.call.name} {event.call.arguments[:80]}"
            self.log(f"{p}  -> {event.call.name} {event.call.arguments[:120]}")
        elif event.kind == "tool_result":
            mark = "!!" if event.is_error else "<-"
            self.log(f"{p}  {mark} {event.name} ({event.duration_s:.1f}s) {event.preview[:100]!r}")
        elif event.kind == "usage":
            self.context, self.cost = event.context_tokens, event.cost_usd
            if event.window:
                self.window = event.window
        elif event.kind == "notice":
            self.log(f"{p}[{event.level}] {event.message}")
        if self.live:
            self.live.update(self.render())
