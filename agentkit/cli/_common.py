"""What every ``agentkit`` command shares: the output consoles, exit codes, common options,
one-line input errors, the store read by read-only commands, run files' folder and SIGTERM
handling. Below ``cli.py`` and the ``_cli_*`` command modules, which all import it; like them it
imports only typer, rich's console and the standard library at module level (``agentkit
--help`` stays fast), the rest inside functions.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from agentkit._text import clean_text
from agentkit.cli._live_view import err

if TYPE_CHECKING:
    import anyio

    from agentkit.store import Store, StoreError

out = Console()
T = TypeVar("T")


StoreOpt = Annotated[
    str | None, typer.Option("--store", help="Trace store (default: $AGENTKIT_STORE or .agentkit/agentkit.db)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]

EXIT_OK, EXIT_RUN, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
DEMO_LABEL = "agentkit demo"
"""The label of ``agentkit demo``'s runs: ``agentkit resume`` continues them as the demo."""
DEMO_OUT = Path("agentkit-demo")
"""Where the demo writes its report unless told (``--out``)."""
DEBUG_ENV = "AGENTKIT_DEBUG"
"""Set to 1 to see the traceback of an internal error (otherwise one line)."""


def fail_input(message: str) -> NoReturn:
    """One line on stderr, ``error: MESSAGE``, then exit 2. The message is text, never markup:
    it quotes paths, user input and install hints such as ``pip install "agentkit[ray]"``."""
    from rich.text import Text

    err.print(Text.assemble(("error:", "bold red"), " ", clean_text(message)), highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INPUT)


def say(line: str) -> None:
    """One plain line on stderr (no markup: messages quote paths and user text)."""
    err.print(clean_text(line), highlight=False, markup=False, soft_wrap=True)


def debug_traceback(exc: BaseException) -> None:
    if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)


class Terminated(Exception):
    """SIGTERM stopped the run (it is saved as ``interrupted``, like Ctrl-C)."""


class BadStore(Exception):
    """The store could not be opened for the run; nothing was started."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


def shown_location(location: str | Path) -> str:
    """A store location as messages show it (a URL's password masked)."""
    from agentkit.store._location import display_location

    return display_location(location)


def store_flag(store_opt: str | Path | None) -> str:
    """`` --store LOCATION`` for a command line a message suggests (empty without ``--store``):
    a URL's password is left out and the line says where it goes instead."""
    if not store_opt:
        return ""
    from agentkit.store._location import command_location

    shown, hidden = command_location(store_opt)
    return f" --store {shown}" + (" (the password left out: set PGPASSWORD)" if hidden else "")


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    import anyio

    return anyio.run(fn)


def read_store(store_opt: str | None, read: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store read-only (it is never created), read from it, close it. An unknown run
    id or a store that is missing, damaged or not an agentkit store is an input error (exit 2)."""
    from agentkit.store import RunNotFound, StoreError
    from agentkit.store._location import open_store, resolve_store_location

    location = resolve_store_location(store_opt)

    async def go() -> T:
        s = open_store(location, readonly=True)
        try:
            return await read(s)
        finally:
            await s.aclose()

    try:
        return run_async(go)
    except RunNotFound as exc:
        fail_input(f"{exc} in the store {shown_location(location)}")
    except (StoreError, ValueError) as exc:  # ValueError: no backend for the URL's scheme
        fail_input(str(exc))


@contextmanager
def sigterm_cancels(scope: anyio.CancelScope) -> Iterator[None]:
    """While the run goes, SIGTERM cancels ``scope`` from the event loop (the loop marks the
    run interrupted, as for Ctrl-C); the default disposition is back afterwards."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, scope.cancel)
    except (NotImplementedError, RuntimeError):  # no signals here (Windows, not the main thread)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def first_leaf(exc: BaseException) -> BaseException:
    """An error raised in a task group arrives wrapped in an ExceptionGroup: its first leaf."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
