"""Figures come back whatever matplotlib backend the model's code picks, each exactly once.

Real sandboxed kernels (skipped where no sandbox is possible, failed under ``CI``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import requires_bwrap

from agentkit.store.events import FigureProduced
from agentkit.tools.python import PythonTool

pytestmark = [pytest.mark.anyio, requires_bwrap]

MakeTool = Callable[..., PythonTool]
SessionFor = Callable[..., Any]
PNG = b"\x89PNG\r\n\x1a\n"


def _figures(out: Any) -> list[Path]:
    """The figures of one call, checked: attachments, effects and files agree, all PNG."""
    paths = [Path(a.path) for a in out.attachments]
    effects = [e for e in out.effects if isinstance(e, FigureProduced)]
    assert len(effects) == len(paths) == len(out.meta["figures"])
    for path, effect in zip(paths, effects, strict=True):
        assert path.read_bytes()[:8] == PNG
        assert effect.image is not None and effect.image.width > 0  # the host decoded it
    return paths


@pytest.mark.parametrize("backend", ["Agg", "pdf", "svg", "ps"])
async def test_show_under_a_non_interactive_backend_yields_one_figure(
    make_tool: MakeTool, session_for: SessionFor, backend: str
) -> None:
    session = await session_for(make_tool())
    out = await session(
        f"import matplotlib\nmatplotlib.use({backend!r})\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 3, 2])\nplt.title('sales')\nplt.show()"
    )
    assert out.meta["ok"] is True, out.text
    assert len(_figures(out)) == 1, out.text
    out = await session("print(plt.get_fignums())")  # shown figures are closed
    assert out.text.strip() == "[]" and _figures(out) == []


async def test_a_backend_switch_after_pyplot_was_imported(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    assert len(_figures(out)) == 1
    out = await session("plt.switch_backend('Agg')\nfig, ax = plt.subplots()\nax.bar([1, 2], [3, 4])\nplt.show()")
    assert out.meta["ok"] is True, out.text
    assert len(_figures(out)) == 1, out.text


async def test_a_figure_displayed_inline_is_not_sent_twice(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nplt.plot([3, 2, 1])")
    assert len(_figures(out)) == 2  # one shown by show(), one left open (shown at the end)
    out = await session("fig, ax = plt.subplots()\nax.plot([1, 2])\nfig")  # the cell's value is the figure
    assert len(_figures(out)) == 1, out.text
    out = await session("from IPython.display import display\nfig, ax = plt.subplots()\ndisplay(fig)\nplt.close(fig)")
    assert len(_figures(out)) == 1, out.text


async def test_a_figure_displayed_under_agg_is_not_sent_twice(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    await session("import matplotlib.pyplot as plt")  # the inline backend registers its PNG formatter
    out = await session("plt.switch_backend('Agg')\nfig, ax = plt.subplots()\nax.plot([1, 2])\ndisplay(fig)")
    assert out.meta["ok"] is True, out.text
    assert len(_figures(out)) == 1, out.text
    out = await session("print(plt.get_fignums())")
    assert out.text.strip() == "[]"


async def test_closed_figures_do_not_appear(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "a = plt.figure()\nplt.plot([1, 2])\nplt.close(a)\n"
        "b = plt.figure()\nplt.plot([2, 1])\nplt.savefig('b.png')\nplt.show()\n"
        "c = plt.figure()\nplt.plot([0, 0])\nplt.close('all')"
    )
    assert out.meta["ok"] is True, out.text
    assert _figures(out) == [], out.text
    out = await session("d = plt.figure()\nplt.plot([5, 6])\nplt.close()\ne = plt.figure()\nplt.plot([1, 1])")
    assert len(_figures(out)) == 1, out.text


async def test_fifty_open_figures_are_capped(make_tool: MakeTool, session_for: SessionFor) -> None:
    tool = make_tool()
    cap = tool.config.max_figures
    session = await session_for(tool)
    out = await session(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "for i in range(50):\n    plt.figure()\n    plt.plot([i, i + 1])"
    )
    assert out.meta["ok"] is True, out.text
    assert len(_figures(out)) == cap
    assert f"{50 - cap} more figure(s) not saved (limit {cap} per call)" in out.text
    out = await session("print(len(plt.get_fignums()))")
    assert out.text.strip() == "0" and _figures(out) == []


async def test_a_figure_that_cannot_be_drawn_is_named_not_fatal(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.figure(figsize=(2000, 2000), dpi=100)\nplt.plot([1, 2])\nplt.figure()\nplt.plot([2, 1])"
    )
    assert "a figure could not be rendered" in out.text
    assert len(_figures(out)) == 1
    out = await session("print(len(plt.get_fignums()))")
    assert out.text.strip() == "0"


async def test_no_figure_work_without_pyplot(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session("import sys\nprint('matplotlib.pyplot' in sys.modules)")
    assert out.text.strip() == "False" and _figures(out) == []
