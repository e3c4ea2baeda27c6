"""Figures live in the sandbox's work dir, so sandboxed code controls them: the report must
read and copy only regular files inside that dir, and write its own files without following
links the sandbox planted."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agentkit.report import Report, save_report
from agentkit.sandbox import probe_bwrap
from agentkit.store import MemoryStore, RunInfo
from agentkit.tools.base import ToolContext
from agentkit.tools.python import PythonArgs, PythonTool

from .helpers import tiny_png

SECRET = b"HOST-SECRET-do-not-copy"


def _outputs(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.is_symlink())


def _report(figures: list[Path]) -> Report:
    return Report(title="Hostile figures", markdown="", figures=[str(f) for f in figures])


def test_only_regular_files_inside_the_work_dir_are_copied(tmp_path: Path) -> None:
    host_png = tmp_path / "host.png"
    host_png.write_bytes(tiny_png() + SECRET)  # readable by the host, not by the sandbox
    work = tmp_path / "runs" / "run-1"
    figures = work / "figures"
    figures.mkdir(parents=True)
    (figures / "figure-001.png").symlink_to(host_png)
    (figures / "figure-002.png").symlink_to("/proc/self/environ")
    (figures / "figure-003.png").write_bytes(tiny_png())
    (figures / "figure-004.png").mkdir()
    with open(figures / "figure-005.png", "wb") as fh:  # sparse: huge, yet costs no disk
        fh.truncate(1 << 30)
    (figures / "figure-006.png").write_bytes(b"not a png" + SECRET)
    # A second run whose sandbox replaced its figures dir by a link to a host dir.
    other = tmp_path / "runs" / "run-2"
    other.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "figure-001.png").write_bytes(tiny_png() + SECRET)
    (other / "figures").symlink_to(elsewhere)
    names = [figures / f"figure-00{i}.png" for i in range(1, 7)] + [other / "figures" / "figure-001.png"]
    out = tmp_path / "out"
    save_report(_report(names), out)
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["figure-3.png"]
    assert (out / "figures" / "figure-3.png").read_bytes() == tiny_png()
    data = _outputs(out)
    assert SECRET not in data
    with open("/proc/self/environ", "rb") as fh:
        environ = fh.read()
    assert environ[:64] not in data
    md = (out / "report.md").read_text()
    assert "![Figure 3](figures/figure-3.png)" in md
    assert md.count("image not available") == 6 and str(host_png) not in md
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 1


def test_a_fifo_among_the_figures_does_not_block(tmp_path: Path) -> None:
    figures = tmp_path / "work" / "figures"
    figures.mkdir(parents=True)
    fifo = figures / "figure-001.png"
    os.mkfifo(fifo)
    done = threading.Event()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            save_report(_report([fifo]), tmp_path / "out")
        except BaseException as exc:  # reported below
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=write, daemon=True).start()
    # A hang guard, not a timing check: opening a FIFO for reading waits for a writer forever.
    if not done.wait(60):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # release the blocked reader
        os.close(fd)
        done.wait(60)
        pytest.fail("save_report blocked opening a FIFO planted among the figures")
    assert not failed, failed
    assert "image not available" in (tmp_path / "out" / "report.md").read_text()


def test_report_files_never_follow_links_planted_in_the_output_dir(tmp_path: Path) -> None:
    """The CLI writes the report into the run's work dir, where the sandbox may have left links."""
    out = tmp_path / "runs" / "run-1"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "figure-001.png").write_bytes(tiny_png())
    victims = {name: tmp_path / f"victim-{name}" for name in ("report.md", "report.html", "report.json")}
    for name, victim in victims.items():
        victim.write_text("keep")
        (out / name).symlink_to(victim)
    victim_figure = tmp_path / "victim-figure.png"
    victim_figure.write_text("keep")
    (out / "figures" / "figure-1.png").symlink_to(victim_figure)
    paths = save_report(_report([out / "figures" / "figure-001.png"]), out, formats=("md", "html", "json"))
    assert all(v.read_text() == "keep" for v in [*victims.values(), victim_figure])
    assert all(p.is_file() and not p.is_symlink() for p in paths)
    assert (out / "figures" / "figure-1.png").read_bytes() == tiny_png()
    # The figures dir itself replaced by a link to a host dir: nothing is written there.
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    other = tmp_path / "runs" / "run-2"
    other.mkdir()
    (other / "figures").symlink_to(host_dir)
    save_report(_report([out / "figures" / "figure-001.png"]), other, formats=("md",))
    assert list(host_dir.iterdir()) == []
    assert (other / "figures" / "figure-1.png").read_bytes() == tiny_png()


@pytest.mark.anyio
async def test_a_real_sandbox_cannot_smuggle_host_files_into_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = probe_bwrap()
    if not status.available:  # the sandbox tests' rule: skipped, but failed under CI
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no sandbox is possible here: {status.reason}")

    host_png = tmp_path / "host.png"
    host_png.write_bytes(tiny_png() + SECRET)
    store = MemoryStore()
    await store.create_run(RunInfo(id="r", task="t"))
    work = tmp_path / "runs" / "r"
    tool = PythonTool(pool_size=0)
    calls = 0

    async def run(code: str) -> list[str]:
        nonlocal calls
        calls += 1
        ctx = ToolContext(run_id="r", call_id=f"c{calls}", step=calls, store=store, workdir=work)
        out = await tool.invoke(PythonArgs(code=code), ctx)
        assert out.meta["ok"] is True and out.meta["sandboxed"] is True, out.text
        return [a.path for a in out.attachments]

    try:
        figures = await run("import matplotlib.pyplot as plt\nfor i in range(2):\n    plt.plot([1, i])\n    plt.show()")
        assert len(figures) == 2
        await run(
            "import os\nos.rename('figures', 'figures-before')\nos.mkdir('figures')\n"
            "os.symlink('/proc/self/environ', 'figures/figure-001.png')\n"
            f"os.symlink({str(host_png)!r}, 'figures/figure-002.png')\n"
            "for name in ('report.md', 'report.html'):\n"
            f"    os.symlink({str(tmp_path / 'planted')!r} + '-' + name, name)"
        )
    finally:
        await tool.aclose()
    save_report(Report(title="From a hostile sandbox", markdown="", figures=figures), work)
    _check_nothing_leaked(work, tmp_path)


def _check_nothing_leaked(work: Path, tmp_path: Path) -> None:
    data = _outputs(work)
    with open("/proc/self/environ", "rb") as fh:
        environ = fh.read()
    assert SECRET not in data and environ[:64] not in data
    assert not list(tmp_path.glob("planted-*"))
    assert (work / "report.md").read_text().count("image not available") == 2
