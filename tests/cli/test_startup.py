"""The `agentkit` command starts without loading what it does not need: `--help` loads neither
the model client, the agent, the store, the task loader nor rich's live display; `runs` and `show` never
load the model client. Checked by structure (the modules a fresh process imported), not by a
clock: the figures are tools/bench/startup.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio

from agentkit.store import SQLiteStore

NEVER_AT_START = (
    "jinja2",
    "openai",
    "httpx2",
    "tenacity",
    "yaml",
    "rich.live",
    "agentkit.run.agent",
    "agentkit.llm.client",
    "agentkit.task",
    "agentkit.ensembles.heavy",
    "agentkit.store",
)
MODEL_CLIENT = ("openai", "tenacity", "agentkit.llm.client", "agentkit.run.agent", "rich.live")


def modules_after(*args: str) -> set[str]:
    """The modules a fresh `agentkit ARGS` process had imported when it exited."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['agentkit', *{list(args)!r}]\n"
        "from agentkit.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    marker = proc.stderr.rindex("MODULES ")
    return set(json.loads(proc.stderr[marker + len("MODULES ") :]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules or any(m.startswith(n + ".") for m in modules)]


def test_help_loads_nothing_heavy() -> None:
    modules = modules_after("--help")
    assert "typer" in modules and "agentkit.cli" in modules
    assert loaded(modules, NEVER_AT_START) == []


def test_runs_and_show_never_load_the_model_client(tmp_path: Path) -> None:
    db = tmp_path / "s.db"

    async def make() -> None:
        async with SQLiteStore(db):
            pass

    anyio.run(make)
    for args in (("runs", "--store", str(db)), ("show", "nope", "--store", str(db))):
        modules = modules_after(*args)
        assert "agentkit.store" in modules, args  # the command did its work
        assert loaded(modules, MODEL_CLIENT) == [], args


def test_the_public_names_load_on_first_use_with_heavy_mode_registered() -> None:
    code = (
        "import sys\n"
        "import agentkit\n"
        "assert 'agentkit.run.agent' not in sys.modules and 'openai' not in sys.modules\n"
        "from agentkit import Agent, ConnectionFailed, ModelRetrying, PlanMade, tool\n"
        "from agentkit.run._ensemble import ensembles\n"
        "ensembles()  # heavy mode and delegation registered with the Agent\n"
        "import agentkit.run.agent, agentkit.run.live, agentkit.llm.errors, agentkit.tools.base\n"
        "assert Agent is agentkit.run.agent.Agent and tool is agentkit.tools.base.tool\n"
        "assert ConnectionFailed is agentkit.llm.errors.ConnectionFailed and PlanMade is agentkit.run.live.PlanMade\n"
        "assert set(agentkit.__all__) <= set(dir(agentkit))\n"
        "missing = [n for n in agentkit.__all__ if getattr(agentkit, n, None) is None]\n"
        "assert not missing, missing\n"
        "try:\n    agentkit.NoSuchName\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "module 'agentkit' has no attribute 'NoSuchName'" in proc.stdout


def test_heavy_mode_works_when_nothing_imported_agentkit_heavy() -> None:
    """The Agent hands a heavy run to the stand-in `import agentkit` registers; it loads heavy mode."""
    code = (
        "import sys, anyio\n"
        "from agentkit.run.agent import Agent\n"
        "from agentkit.testing import ScriptedModel, Turn\n"
        "assert 'agentkit.ensembles.heavy' not in sys.modules\n"
        "agent = Agent(llm=ScriptedModel(lambda req: Turn(content='42')), tools=[], plan=False, heavy=2,"
        " aggregate='vote')\n"
        "result = anyio.run(agent.run, 'question')\n"
        "assert 'agentkit.ensembles.heavy' in sys.modules\n"
        "print(result.status, result.answer)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "finished 42"
