"""Mutation check: every curated mutant (tools/_mutants_list.py) must be killed by a test.

A test that cannot fail is a defect. Each mutant is a small deliberate bug in an important
place; this script copies the repository to a scratch dir once, and for each mutant applies
its patch there, runs the mutant's small test selection against the copy (the copy's
``agentkit`` is imported, not the editable install) and restores the file. Before that, each
distinct selection runs once unmutated: a selection that fails on the real code kills
nothing (``baseline fails``).

    python tools/mutants.py              # all mutants; exit 1 unless every one is killed
    python tools/mutants.py --list       # the mutants and their tests
    python tools/mutants.py --only ID    # one mutant (repeatable)
    python tools/mutants.py --jobs 2     # scratch copies run in parallel

Not part of the test suite: a benchmark-like check whose figure goes into closing notes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mutants_list import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_SKIP = frozenset(
    {".git", ".agentkit", ".benchmarks", ".venv", "build", "dist", "runs", "out", "agentkit-demo"}
)
EVERYWHERE_SKIP = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})
_FIRST_FAILURE = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)
_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|deselected|errors?)")

console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@dataclass
class Outcome:
    status: str
    """``killed``, ``SURVIVED``, ``baseline fails`` or ``error`` (the runner could not tell)."""
    detail: str
    seconds: float


class MutantDefinitionError(Exception):
    """A mutant does not apply to the current code: its ``old`` text moved or changed."""


def mutate(text: str, mutant: Mutant) -> str:
    count = text.count(mutant.old)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        raise MutantDefinitionError(f"{mutant.id}: its `old` text is {where} in {mutant.file}; update the mutant")
    if mutant.new == mutant.old:
        raise MutantDefinitionError(f"{mutant.id}: `new` equals `old`")
    mutated = text.replace(mutant.old, mutant.new)
    try:
        compile(mutated, mutant.file, "exec")
    except SyntaxError as exc:
        raise MutantDefinitionError(f"{mutant.id}: the mutated {mutant.file} does not compile: {exc}") from exc
    return mutated


def validate(mutants: Sequence[Mutant], root: Path) -> None:
    ids = [m.id for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise MutantDefinitionError(f"duplicate mutant ids: {', '.join(duplicates)}")
    for mutant in mutants:
        if not mutant.tests:
            raise MutantDefinitionError(f"{mutant.id}: no tests selected")
        mutate((root / mutant.file).read_text(encoding="utf-8"), mutant)
        for selection in mutant.tests:
            path = selection.split("::", 1)[0]
            if not path.startswith("-") and not (root / path).exists():
                raise MutantDefinitionError(f"{mutant.id}: selected test file {path} does not exist")


def _ignore(root: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in EVERYWHERE_SKIP or n.endswith(".egg-info")}
        if Path(directory) == root:
            skipped |= {n for n in names if n in TOP_LEVEL_SKIP}
        return skipped

    return ignore


def make_copy(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest, ignore=_ignore(root), symlinks=True)
    return dest


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a restored file must never be shadowed by a mutant's .pyc
    return env


def check_import(copy: Path) -> None:
    """The copy's agentkit, not the editable install, is what the tests import."""
    probe = "import agentkit; print(agentkit.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=copy, env=environment(copy), capture_output=True, text=True, check=True
    )
    imported = Path(out.stdout.strip()).resolve()
    if copy.resolve() not in imported.parents:
        raise SystemExit(f"the scratch copy imports agentkit from {imported}, not from {copy}: mutants would not apply")


def pytest_command(tests: Sequence[str]) -> list[str]:
    # The project's addopts are replaced: its ``-q`` on top of this one would hide the counts.
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-x", "-q", "-p", "no:cacheprovider", "-rfE"]
    if importlib.util.find_spec("pytest_randomly") is not None:
        cmd += ["-p", "no:randomly"]
    return [*cmd, *tests]


def run_pytest(copy: Path, tests: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """pytest's exit code (``None``: timed out) and its output."""
    proc = subprocess.Popen(
        pytest_command(tests),
        cwd=copy,
        env=environment(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session this script started: pytest and its children
        out, _ = proc.communicate()
        return None, out
    return proc.returncode, out


def summary(output: str) -> str:
    counts = {kind: n for n, kind in _SUMMARY.findall(output)}
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def baseline(copy: Path, tests: Sequence[str], timeout: float) -> Outcome:
    start = time.monotonic()
    code, out = run_pytest(copy, tests, timeout)
    seconds = time.monotonic() - start
    if code == 0:
        return Outcome("passed", summary(out), seconds)
    if code is None:
        return Outcome("baseline fails", f"timed out after {timeout:g} s", seconds)
    first = _FIRST_FAILURE.search(out)
    why = f"{first.group(1)} {first.group(2)}" if first else f"pytest exit {code}: {out.strip()[-300:]}"
    return Outcome("baseline fails", why, seconds)


def run_mutant(copy: Path, mutant: Mutant, timeout: float) -> Outcome:
    path = copy / mutant.file
    original = path.read_text(encoding="utf-8")
    start = time.monotonic()
    try:
        path.write_text(mutate(original, mutant), encoding="utf-8")
        code, out = run_pytest(copy, mutant.tests, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
    seconds = time.monotonic() - start
    if code is None:
        return Outcome("killed", f"timed out after {timeout:g} s", seconds)
    if code == 0:
        return Outcome("SURVIVED", summary(out), seconds)
    first = _FIRST_FAILURE.search(out)
    if code in (1, 2) and first:
        return Outcome(
            "killed", first.group(2) if first.group(1) == "FAILED" else f"error in {first.group(2)}", seconds
        )
    return Outcome("error", f"pytest exit {code}: {out.strip()[-300:]}", seconds)


def run_all(mutants: Sequence[Mutant], jobs: int, timeout: float, keep: bool) -> dict[str, Outcome]:
    scratch = Path(tempfile.mkdtemp(prefix="agentkit-mutants-"))
    try:
        copies: queue.Queue[Path] = queue.Queue()
        for i in range(jobs):
            copies.put(make_copy(ROOT, scratch / f"copy{i}"))
        check_import(scratch / "copy0")

        def with_copy(work: Callable[[Path], Outcome]) -> Outcome:
            copy = copies.get()
            try:
                return work(copy)
            finally:
                copies.put(copy)

        def check(selection: tuple[str, ...]) -> Outcome:
            return with_copy(lambda c: baseline(c, selection, timeout))

        selections = list(dict.fromkeys(m.tests for m in mutants))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            baselines = dict(zip(selections, pool.map(check, selections), strict=True))
        for selection, outcome in baselines.items():
            shown = "passes" if outcome.status == "passed" else "FAILS"
            console.print(f"baseline {shown} ({outcome.detail}, {outcome.seconds:.1f} s): {' '.join(selection)}")

        def one(mutant: Mutant) -> Outcome:
            base = baselines[mutant.tests]
            if base.status != "passed":
                outcome = Outcome("baseline fails", base.detail, 0.0)
            else:
                outcome = with_copy(lambda c: run_mutant(c, mutant, timeout))
            console.print(f"{mutant.id}: {outcome.status} ({escape(outcome.detail)}, {outcome.seconds:.1f} s)")
            return outcome

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return dict(zip((m.id for m in mutants), pool.map(one, mutants), strict=True))
    finally:
        if keep:
            console.print(f"scratch copies kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def print_list(mutants: Sequence[Mutant]) -> None:
    table = Table(title=f"{len(mutants)} mutants")
    for column in ("mutant", "file", "bug", "tests"):
        table.add_column(column)
    for m in mutants:
        table.add_row(m.id, m.file, escape(m.description), escape("\n".join(m.tests)))
    console.print(table)


def print_results(mutants: Sequence[Mutant], results: dict[str, Outcome]) -> None:
    table = Table(title="mutants")
    for column in ("mutant", "file", "bug", "result", "s"):
        table.add_column(column, justify="right" if column == "s" else "left")
    for m in mutants:
        outcome = results[m.id]
        result = f"killed by {outcome.detail}" if outcome.status == "killed" else f"{outcome.status}: {outcome.detail}"
        style = "green" if outcome.status == "killed" else "bold red"
        table.add_row(m.id, m.file, escape(m.description), f"[{style}]{escape(result)}[/]", f"{outcome.seconds:.1f}")
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1, help="mutants run in parallel, each in its own copy")
    parser.add_argument("--only", action="append", metavar="ID", help="run only this mutant (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per pytest run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    mutants = list(MUTANTS)
    if args.only:
        wanted = [i for item in args.only for i in item.split(",") if i]
        unknown = sorted(set(wanted) - {m.id for m in mutants})
        if unknown:
            parser.error(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
        mutants = [m for m in mutants if m.id in wanted]
    if args.list:
        print_list(mutants)
        return 0
    try:
        validate(mutants, ROOT)
    except MutantDefinitionError as exc:
        console.print(f"[bold red]mutant definition error:[/] {escape(str(exc))}")
        return 2
    start = time.monotonic()
    results = run_all(mutants, min(args.jobs, len(mutants)), args.timeout, args.keep)
    seconds = time.monotonic() - start
    print_results(mutants, results)
    killed = sum(o.status == "killed" for o in results.values())
    survived = sum(o.status == "SURVIVED" for o in results.values())
    other = len(results) - killed - survived
    tail = f", not run: {other}" if other else ""
    console.print(f"mutants: {len(results)}, killed: {killed}, survived: {survived}{tail}, seconds: {seconds:.0f}")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
