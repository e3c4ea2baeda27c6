"""How ``agentkit --help`` and every command's ``--help`` read.

typer 0.2x's rich help shows a flag as ``--json <bool>`` (a flag takes no value), puts a
required argument in braces and an optional one in brackets on the usage line (``{SUITE}``,
``[[ADDRESS]]`` when the metavar had brackets already), names an argument without a metavar in
lower case (``{run_id}``), and keeps a docstring's line breaks in the command list, so a wrapped
first paragraph reads as a description that stops mid-sentence. :class:`HelpGroup` (the app)
and :class:`HelpCommand` (every command: ``@app.command(cls=HelpCommand)``) give the usual
forms instead: ``--json``, ``agentkit eval [OPTIONS] SUITE [ADDRESS]``, one line per command.
tests/cli/test_help.py reads the help of every command. Parameters and contexts are typed
``Any``: click's classes live in click or in typer's own copy of it, by typer's version.
"""

from __future__ import annotations

from typing import Any

import typer.core


def _joined(help_text: str | None) -> str | None:
    """``help_text`` with the line breaks inside each paragraph made spaces (paragraphs stay)."""
    if not help_text:
        return help_text
    import inspect

    paragraphs = inspect.cleandoc(help_text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _tidy(param: Any) -> Any:
    """A flag shows no value type; an argument is named in capitals, without brackets."""
    if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""
    elif isinstance(param, typer.core.TyperArgument):
        name = (param.metavar or param.name or "").strip("[]{}")
        param.metavar = name.upper()
    return param


def _usage(command: typer.core.TyperCommand, ctx: Any) -> list[str]:
    """The usage line's pieces: ``[OPTIONS]``, then each argument as ``NAME`` (required) or
    ``[NAME]`` (optional), ``...`` after one that takes several values."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, typer.core.TyperArgument):
            name = param.metavar or (param.name or "").upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class HelpCommand(typer.core.TyperCommand):
    """A command whose help reads as described in the module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = _joined(self.help)
        for param in self.params:
            _tidy(param)

    def get_params(self, ctx: Any) -> list[Any]:
        return [_tidy(p) for p in super().get_params(ctx)]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)


class HelpGroup(typer.core.TyperGroup):
    """The ``agentkit`` group: its own ``--help`` shows no value type either."""

    def get_params(self, ctx: Any) -> list[Any]:
        return [_tidy(p) for p in super().get_params(ctx)]
