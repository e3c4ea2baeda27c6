"""One way to write HTML: Jinja templates beside their package, with autoescape on.

The report page (``agentkit/report/templates``), the trace page (``agentkit/view/templates``)
and the eval summary (``agentkit/eval/templates``) are templates rendered through an
environment made here. Escaping is the default: every value a template prints becomes text,
unless it is a :class:`markupsafe.Markup`, and Markup is made only from markup the framework
built itself (charts drawn at page time, markdown rendered with raw HTML off), each use
commented where it is made. Undefined names fail loudly (``StrictUndefined``), never print
as nothing.

It lives in ``agentkit.report`` because that is the lowest package the three may all import
(view already reads the report's URL check; eval sits above report). jinja2 is imported on
the first page rendered, never at import time: ``agentkit --help`` and the run loop do not
pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

AUTOESCAPED = ("html", "htm", "xml", "svg")
"""Template name endings that are escaped for HTML; anything else (``.css``, ``.js``) is too,
by the environment's default: no template in agentkit prints raw text."""


def environment(package: str, *, filters: Mapping[str, Callable[..., Any]] | None = None) -> jinja2.Environment:
    """An environment that loads ``package``'s ``templates/`` folder (from the installed
    package, so it works from a wheel or a zip), escapes everything it prints, and fails on an
    undefined name. Block tags on a line of their own leave no blank line behind.

    Callers keep one per package (building it compiles nothing; templates compile on first
    use and are cached in it)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=AUTOESCAPED, default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(filters or {})
    return env


__all__ = ["AUTOESCAPED", "environment"]
