"""How an eval shows its progress on stderr: a live bar (done / running / failed, accuracy and
cost so far, ETA) on a terminal, one plain line per ended attempt otherwise (logs, CI)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichBar

from agentkit.eval._run_attempt import AttemptSpec
from agentkit.eval.results import AttemptRow


class Tally:
    """The eval's figures so far."""

    def __init__(self) -> None:
        self.total = self.done = self.running = self.failed = self.correct = self.graded = 0
        self.cost = 0.0

    def add(self, row: AttemptRow) -> None:
        self.done += 1
        self.failed += row.failed
        self.correct += row.correct
        self.graded += row.grade is not None
        self.cost += row.cost_usd

    def line(self) -> str:
        acc = f"{self.correct}/{self.graded} = {self.correct / self.graded:.1%}" if self.graded else "-"
        return f"running {self.running}, failed {self.failed}, accuracy {acc}, cost ${self.cost:.4f}"


class PlainProgress:
    """One line per ended attempt (no terminal control codes)."""

    def __init__(self, console: Console) -> None:
        self.console, self.tally = console, Tally()

    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def begin(self, total: int, done: Sequence[AttemptRow]) -> None:
        self.tally.total = total
        for row in done:
            self.tally.add(row)
        if done:
            self._say(f"eval: {len(done)} of {total} attempts already done (read from the store)")

    def started(self, spec: AttemptSpec) -> None:
        self.tally.running += 1

    def ended(self, row: AttemptRow) -> None:
        t = self.tally
        t.running -= 1
        t.add(row)
        verdict = row.grade or row.error or "-"
        self._say(f"[{t.done}/{t.total}] {row.id} #{row.attempt} {row.status}: {verdict} ({t.line()})")


class LiveProgress(PlainProgress):
    """A rich progress bar, redrawn in place."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.bar = RichBar(
            TextColumn("eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.bar.add_task("eval", total=None, stats="")

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.bar.stop()

    def _update(self, advance: int = 0) -> None:
        self.bar.update(self.task, total=self.tally.total, advance=advance, stats=self.tally.line())

    def begin(self, total: int, done: Sequence[AttemptRow]) -> None:
        self.tally.total = total
        for row in done:
            self.tally.add(row)
        self.bar.update(self.task, total=total, completed=len(done), stats=self.tally.line())

    def started(self, spec: AttemptSpec) -> None:
        self.tally.running += 1
        self._update()

    def ended(self, row: AttemptRow) -> None:
        self.tally.running -= 1
        self.tally.add(row)
        self._update(advance=1)
