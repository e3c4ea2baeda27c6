"""The python tool against real sandboxed kernels: the containment battery and the session.

Every test here needs a real sandbox (skipped where none is possible, failed under ``CI``)."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from sandbox_helpers import requires_bwrap, sandbox_processes

from agentkit.llm.types import AssistantTurn, ToolCall
from agentkit.sandbox import SandboxConfig
from agentkit.store.events import AssistantMessage, ToolResultEvent
from agentkit.tools.python import PythonTool

pytestmark = [pytest.mark.anyio, requires_bwrap]

MakeTool = Callable[..., PythonTool]
SessionFor = Callable[..., Any]


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8)


def _exists(path: Path) -> bool:
    return path.exists()


async def test_output_result_and_persistence(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session("x = 40\nprint('hello from the sandbox')\nx + 2")
    assert not out.is_error and out.meta["ok"] is True
    assert "hello from the sandbox" in out.text
    assert "Out[1]: 42" in out.text
    out = await session("x * 2")
    assert "Out[2]: 80" in out.text
    out = await session("y = 1")
    assert out.text == "(no output)" and out.meta["ok"] is True


async def test_error_traceback_is_trimmed(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    chain = "".join(f"def g{i}():\n    return g{i + 1}()\n" for i in range(12))
    out = await session(chain + "def g12():\n    return 1 / 0\ng0()")
    assert out.is_error and out.meta["ok"] is False and out.meta["error"] == "ZeroDivisionError"
    assert "ZeroDivisionError: division by zero" in out.text
    assert "frames omitted" in out.text
    assert "\x1b[" not in out.text and "-----" not in out.text
    assert len(out.text) < 4000
    out = await session("'still alive'")
    assert "still alive" in out.text and not out.is_error


async def test_figure_becomes_png_attachment(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')\nplt.show()")
    assert out.meta["ok"] is True, out.text
    assert len(out.attachments) == 1
    att = out.attachments[0]
    path = Path(att.path)
    assert att.mime_type == "image/png"
    assert path.parent == session.workdir / "figures"
    assert _head(path) == b"\x89PNG\r\n\x1a\n"
    assert "figures/figure-001.png" in out.text


async def test_home_and_project_secrets_are_invisible(
    make_tool: MakeTool, session_for: SessionFor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("MOONSHOT_API_KEY=sk-project-secret\n")
    monkeypatch.chdir(project)
    home_secret = Path.home() / ".agentkit-sandbox-test-secret"
    home_secret.write_text("home-secret")
    try:
        session = await session_for(make_tool(), workdir=tmp_path / "runs" / "r")
        code = (
            "import os\nres = {}\n"
            f"for p in [{str(project / '.env')!r}, {str(home_secret)!r}, {str(project)!r}, {str(Path.home())!r}]:\n"
            "    try:\n"
            "        res[p] = open(p).read() if os.path.isfile(p) else sorted(os.listdir(p))\n"
            "    except Exception as e:\n"
            "        res[p] = type(e).__name__\n"
            "print(res)\nprint('cwd', os.getcwd())"
        )
        out = await session(code)
    finally:
        home_secret.unlink()
    assert "sk-project-secret" not in out.text and "home-secret" not in out.text
    assert f"{str(home_secret)!r}: 'FileNotFoundError'" in out.text
    assert "-test-secret'" not in out.text.split(f"{str(Path.home())!r}:", 1)[1]
    assert f"{str(project / '.env')!r}: 'FileNotFoundError'" in out.text
    assert "cwd /work" in out.text
    assert (await session("1 + 1")).meta["ok"] is True


async def test_api_keys_never_reach_the_kernel(
    make_tool: MakeTool, session_for: SessionFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-test-moonshot")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "sk-test-token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk-test-aws")
    monkeypatch.setenv("HTTPS_PROXY", "http://user:sk-test-proxy@proxy:3128")
    tool = make_tool(config=SandboxConfig(extra_env={"EXTRA_PASSWORD": "sk-test-extra", "EXTRA_OK": "fine"}))
    session = await session_for(tool)
    code = (
        "import os, glob\nleaks = [k for k, v in os.environ.items() if 'sk-test' in v]\n"
        "for p in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n"
        "        if b'sk-test' in open(p, 'rb').read(): leaks.append(p)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('leaks', leaks, os.environ.get('EXTRA_OK'), 'MOONSHOT_API_KEY' in os.environ)"
    )
    out = await session(code)
    assert "leaks [] fine False" in out.text, out.text


async def test_cannot_write_outside_the_workdir(make_tool: MakeTool, session_for: SessionFor, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    session = await session_for(make_tool())
    code = (
        "res = {}\n"
        f"for p in ['/usr/x', '/etc/x', '/x', '/root/x', '/work/../x', {str(outside)!r},\n"
        "          '/tmp/private.txt', 'ok.txt']:\n"
        "    try:\n"
        "        open(p, 'w').write('data'); res[p] = 'written'\n"
        "    except OSError as e:\n"
        "        res[p] = type(e).__name__\n"
        "print(res)"
    )
    out = await session(code)
    assert "'ok.txt': 'written'" in out.text and "'/tmp/private.txt': 'written'" in out.text
    for p in ("/usr/x", "/etc/x", "/x", "/root/x", "/work/../x", str(outside)):
        assert f"'{p}': 'written'" not in out.text, out.text
    assert not any(_exists(p) for p in (outside, Path("/x"), Path("/tmp/private.txt")))
    assert (session.workdir / "ok.txt").read_text() == "data"


async def test_no_network_unless_enabled(make_tool: MakeTool, session_for: SessionFor) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    code = (
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close(); print('CONNECTED')\n"
        "except OSError as e:\n    print('BLOCKED', type(e).__name__)"
    )
    try:
        closed = await session_for(make_tool(), run_id="closed")
        out = await closed(code)
        assert "BLOCKED" in out.text, out.text
        with pytest.raises(TimeoutError):
            listener.accept()
        assert (await closed("1")).meta["ok"] is True
        opened = await session_for(make_tool(network=True), run_id="open")
        out = await opened(code)
        assert "CONNECTED" in out.text, out.text
    finally:
        listener.close()


async def test_memory_bomb_is_contained(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool(memory_mb=512))
    await session("keep = 'survives'")
    out = await session("blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))")
    assert out.is_error
    assert "MemoryError" in out.text or out.meta["state_lost"]
    out = await session("del blocks\n'ok'" if not out.meta["state_lost"] else "'ok'")
    assert "ok" in out.text and out.meta["ok"] is True


_FORK = (
    "import os, signal, time\npids, err = [], None\n"
    "for _ in range({n}):\n"
    "    try:\n        pid = os.fork()\n"
    "    except OSError as e:\n        err = e\n        break\n"
    "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
    "    pids.append(pid)\n"
    "print('forked', len(pids), type(err).__name__)"
)
_REAP = "for p in pids:\n    os.kill(p, signal.SIGKILL)\nfor p in pids:\n    os.waitpid(p, 0)\nlen(pids)"


async def test_fork_bomb_hits_the_process_limit(make_tool: MakeTool, session_for: SessionFor) -> None:
    tool = make_tool(config=SandboxConfig(max_procs=64))
    bomb = await session_for(tool, run_id="bomb")
    out = await bomb(_FORK.format(n=500))  # children stay alive until reaped below
    assert "BlockingIOError" in out.text, out.text
    assert int(out.text.split("forked", 1)[1].split()[0]) < 64
    # The limit is per sandbox: another run's sandbox can still start processes meanwhile.
    other = await session_for(tool, run_id="other")
    out = await other(_FORK.format(n=20))
    assert "forked 20 NoneType" in out.text, out.text
    await other(_REAP)
    await bomb(_REAP)
    assert (await bomb("1 + 1")).meta["ok"] is True
    await tool.aclose()
    assert sandbox_processes() == []


async def test_infinite_loop_is_interrupted_and_state_survives(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool(timeout_s=1.5))
    await session("answer = 41")
    out = await session("while True:\n    pass")
    assert out.is_error and out.meta["timed_out"] and not out.meta["state_lost"]
    assert "interrupted" in out.text
    out = await session("answer + 1")
    assert "42" in out.text and out.meta["ok"] is True


async def test_uninterruptible_cell_restarts_kernel(make_tool: MakeTool, session_for: SessionFor) -> None:
    tool = make_tool(config=SandboxConfig(timeout_s=1.0, interrupt_grace_s=1.0))
    session = await session_for(tool)
    await session("lost = 1")
    out = await session("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    assert out.meta["state_lost"] and out.is_error, out
    assert "were lost" in out.text
    out = await session("'lost' in dir()")
    assert "False" in out.text


async def test_dead_kernel_is_restarted(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    await session("v = 1")
    out = await session("import os\nos._exit(3)")
    assert out.meta["state_lost"] and "restarted" in out.text and "exit status 3" in out.text
    out = await session("'v' in dir(), 6 * 7")
    assert "(False, 42)" in out.text


async def test_huge_print_is_capped(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = await session("print('start')\nprint('x' * 50_000_000)\nprint('the end')")
    assert out.meta["ok"] is True
    assert len(out.text) < 20_000
    assert out.text.startswith("start") and out.text.rstrip().endswith("the end")
    assert "characters omitted" in out.text
    # Bypass the kernel-side cap: the host still caps while collecting.
    out = await session("import sys\ntype(sys.stdout).write(sys.stdout, 'y' * 50_000_000)\nsys.stdout.flush()")
    assert len(out.text) < 20_000 and "characters omitted" in out.text
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400, grown_mb


async def test_replay_on_resume_restores_variables(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    store, run = session.store, session.run_id

    def call(cid: str, code: str) -> ToolCall:
        return ToolCall(id=cid, name="python", arguments=orjson.dumps({"code": code}).decode(), parsed={"code": code})

    first = [call("c1", "gone = 1"), call("c0", "import os; os._exit(1)")]
    await store.append(run, AssistantMessage(step=1, turn=AssistantTurn(tool_calls=first)))
    await store.append(run, ToolResultEvent(step=1, call_id="c1", name="python", text="", meta={"ok": True}))
    await store.append(
        run, ToolResultEvent(step=1, call_id="c0", name="python", text="", meta={"ok": False, "state_lost": True})
    )
    await store.append(
        run,
        AssistantMessage(
            step=2,
            turn=AssistantTurn(tool_calls=[call("c1", "a = 20"), call("c2", "b = a + 1"), call("c3", "c = 1 / 0")]),
        ),
    )
    await store.append(run, ToolResultEvent(step=2, call_id="c1", name="python", text="", meta={"ok": True}))
    await store.append(run, ToolResultEvent(step=2, call_id="c2", name="python", text="", meta={"ok": True}))
    await store.append(run, ToolResultEvent(step=2, call_id="c3", name="python", text="", meta={"ok": False}))
    await store.append(run, AssistantMessage(step=3, turn=AssistantTurn(tool_calls=[call("c4", "print(a + b)")])))
    out = await session("print(a + b, 'gone' in dir(), 'c' in dir())", call_id="c4")
    assert "41 False False" in out.text, out.text
    assert "re-ran 2 earlier cell(s)" in out.text and out.meta["replayed"] == 2
    out = await session("a")
    assert "Session restored" not in out.text


async def test_warm_pool_hands_over_a_started_kernel(
    make_tool: MakeTool, session_for: SessionFor, tmp_path: Path
) -> None:
    tool = make_tool(pool_size=1, pool_dir=tmp_path / "runs" / ".pool")
    await tool.pool.prewarm()
    assert tool.pool.idle_count == 1
    warm_pid = tool.pool._idle[0].pid
    session = await session_for(tool, workdir=tmp_path / "runs" / "fresh")
    out = await session("open('made-here.txt', 'w').write('hi')\nimport os\nos.getcwd()")
    assert "/work" in out.text and out.meta["ok"] is True
    assert tool._kernels["run-1"].pid == warm_pid
    assert (tmp_path / "runs" / "fresh" / "made-here.txt").read_text() == "hi"
    await tool.pool.prewarm()
    assert tool.pool.idle_count == 1
    await tool.close_run("run-1")
    await tool.aclose()
    assert sandbox_processes() == []
    assert not (tmp_path / "runs" / ".pool").exists() or not any((tmp_path / "runs" / ".pool").iterdir())
    assert os.listdir(tmp_path / "runs") in (["fresh"], ["fresh", ".pool"], [".pool", "fresh"])


def test_new_event_loop_gets_a_new_kernel_with_state_replayed(tmp_path: Path) -> None:
    """``run_sync`` twice with one tool: the second loop cannot use the first loop's kernel."""
    from agentkit.store import MemoryStore, RunInfo
    from agentkit.tools.base import ToolContext
    from agentkit.tools.python import PythonArgs

    tool = PythonTool(pool_size=0)
    store = MemoryStore()

    async def call(cid: str, code: str, step: int) -> Any:
        ctx = ToolContext(run_id="r", call_id=cid, step=step, store=store, workdir=tmp_path / "r")
        tc = ToolCall(id=cid, name="python", arguments=orjson.dumps({"code": code}).decode(), parsed={"code": code})
        await store.append("r", AssistantMessage(step=step, turn=AssistantTurn(tool_calls=[tc])))
        out = await tool.invoke(PythonArgs(code=code), ctx)
        await store.append("r", ToolResultEvent(step=step, call_id=cid, name="python", text=out.text, meta=out.meta))
        return out

    async def first() -> None:
        await store.create_run(RunInfo(id="r", task="t"))
        await call("a", "value = 20", 1)

    async def second() -> Any:
        try:
            return await call("b", "value + 22", 2)
        finally:
            await tool.aclose()

    anyio.run(first)
    out = anyio.run(second)
    assert "Out[2]: 42" in out.text and out.meta["replayed"] == 1, out.text
    assert sandbox_processes() == []


async def test_kernel_output_to_fd2_is_capped_on_the_host(make_tool: MakeTool, session_for: SessionFor) -> None:
    """Writing straight to the kernel's file descriptor 2 reaches the host's log of the
    kernel process (ipykernel echoes it there): the host keeps a capped log in the work dir."""
    cap = 64 * 1024
    tool = make_tool(config=SandboxConfig(max_log_bytes=cap))
    session = await session_for(tool)
    code = (
        "import os\nos.write(2, b'FIRST-LINE\\n')\nchunk = b'e' * (1 << 20)\n"
        "for _ in range(300):\n    os.write(2, chunk)\nos.write(2, b'\\nLAST-LINE\\n')"
    )
    out = await session(code)
    assert out.meta["ok"] is True and len(out.text) < 20_000, out.text[-300:]
    kernel = tool._kernels["run-1"]
    assert kernel._private is not None
    private_bytes = sum(p.stat().st_size for p in kernel._private.rglob("*") if p.is_file())
    assert private_bytes < cap, private_bytes  # nothing of it in /tmp
    log = session.workdir / ".kernel.log"
    assert log.stat().st_size <= cap
    assert b"FIRST-LINE" in log.read_bytes()[:4096] and b"output is cut here" in log.read_bytes()
    out = await session("import os\nos._exit(5)")  # the kernel stops: its log gets its end
    assert out.meta["state_lost"]
    old = (session.workdir / ".kernel.log.1").read_bytes()
    assert len(old) <= cap and old.rstrip().endswith(b"LAST-LINE") and b"bytes of kernel output dropped" in old
    assert (await session("1 + 1")).meta["ok"] is True
    assert (session.workdir / ".kernel.log").stat().st_size < cap


async def test_background_thread_output_stays_out_of_later_cells(make_tool: MakeTool, session_for: SessionFor) -> None:
    session = await session_for(make_tool())
    out = await session(
        "import threading, time\nticks = []\n"
        "def chatter():\n    while True:\n        ticks.append(1)\n"
        "        print('BACKGROUND', len(ticks), flush=True)\n        time.sleep(0.002)\n"
        "threading.Thread(target=chatter, daemon=True).start()\n"
        "while len(ticks) < 3:\n    time.sleep(0.001)\nprint('started')"
    )
    assert "started" in out.text and "BACKGROUND 1" in out.text  # its own cell shows it
    for _ in range(2):
        out = await session("n = len(ticks)\nwhile len(ticks) < n + 50:\n    time.sleep(0.001)\nprint('later cell')")
        assert "later cell" in out.text and "BACKGROUND" not in out.text, out.text
        assert "output of threads started by earlier cells" in out.text, out.text
    # Work handed to a pool thread started by an earlier cell belongs to the cell that asked for it.
    await session("from concurrent.futures import ThreadPoolExecutor as TPE\npool = TPE(2)\npool.submit(int).result()")
    out = await session("pool.submit(print, 'FROM-POOL').result()")
    assert "FROM-POOL" in out.text, out.text
