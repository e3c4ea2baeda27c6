"""The import rules of agentkit (docs/layout.md and DESIGN "Layout"), checked mechanically.

One folder per layer. The rules, one test each (a failure names the rule, the module, the
import and its line):
1. Each package imports only the packages its row of ``ALLOWED`` names (its own modules
   always): the table is the architecture, package by package.
2. Imports point down: cli -> eval -> ensembles -> run -> context/tools/report/llm -> store
   -> the bottom (vocabulary, _text, _redact, the task file's sections); no module reaches,
   even through helpers, a layer above its own.
3. The bottom modules import nothing of agentkit but each other.
4. ``agentkit.llm.*`` reaches nothing of tools, the loop, ensembles, store, context, report.
5. ``agentkit.context.*`` reaches nothing of the loop or the ensembles.
6. ``agentkit.tools.*`` reaches nothing of the loop or the ensembles.
7. ``agentkit.run`` never reaches ``agentkit.ensembles`` (the Agent does not know ensembles).
8. No import cycles between agentkit modules.
9. Runtime code never imports ``agentkit.testing`` or ``agentkit.cli._demo``; only the CLI's
   demo command does, inside its function.
10. Only ``agentkit.testing.conformance`` imports pytest.
11. Telemetry reaches only the store (and its fold) and the bottom; nothing below it reaches it.
12. The root holds at most a dozen entries besides packages, and no private root module is
    imported by only one package.

Every ``.py`` file under ``agentkit/`` is parsed (not imported) and every import in it is
collected: module-level ones, ones inside functions (lazy), ``importlib.import_module("...")``
with a literal name, and ones under ``if TYPE_CHECKING:``.

What counts:
- The layering rules count every import, ``TYPE_CHECKING`` ones included: a type-only import
  creates no runtime cycle, but a store that names the model client's types still knows the
  model client. Most rules follow imports transitively, so ``llm -> X -> store`` breaks "the
  llm client knows no store" even when X itself may import the store; the failure shows the
  chain and the import that closes it.
- The cycle rule counts runtime imports only (module-level and lazy), since a
  ``TYPE_CHECKING`` import is never executed.
- ``from package import name`` is an import of ``package.name`` when that is a module, else of
  ``package`` (its ``__init__``). A package's own ``__init__`` that Python runs before a
  submodule is not counted as an import of the submodule's importer.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "agentkit"


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    kind: str  # "module level", "inside a function", "under TYPE_CHECKING"

    @property
    def runtime(self) -> bool:
        return self.kind != "under TYPE_CHECKING"

    def where(self) -> str:
        return f"{module_file(self.source)}:{self.line} imports {self.target} ({self.kind})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def module_file(name: str) -> str:
    return str(MODULES[name].relative_to(ROOT))


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class _Collector(ast.NodeVisitor):
    def __init__(self, source: str, is_package: bool) -> None:
        self.source, self.is_package = source, is_package
        self.found: list[Import] = []
        self._kind = ["module level"]

    def _add(self, target: str, line: int) -> None:
        imp = Import(self.source, target, line, self._kind[-1])
        if imp not in self.found:  # `from m import a, b` is one import of m
            self.found.append(imp)

    def _base(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        package = self.source.split(".") if self.is_package else self.source.split(".")[:-1]
        package = package[: len(package) - (level - 1)]
        return ".".join([*package, module] if module else package)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._base(node.module, node.level)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in MODULES else base, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        named = isinstance(func, ast.Attribute) and func.attr == "import_module"
        if named and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._add(node.args[0].value, node.lineno)
        self.generic_visit(node)

    def _nested(self, kind: str, nodes: Iterable[ast.AST]) -> None:
        self._kind.append(kind)
        for child in nodes:
            self.visit(child)
        self._kind.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        kind = self._kind[-1] if self._kind[-1] == "under TYPE_CHECKING" else "inside a function"
        self._nested(kind, ast.iter_child_nodes(node))

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        kind = self._kind[-1] if self._kind[-1] == "under TYPE_CHECKING" else "inside a function"
        self._nested(kind, ast.iter_child_nodes(node))

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        type_checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not type_checking:
            self.generic_visit(node)
            return
        self._nested("under TYPE_CHECKING", node.body)
        for child in node.orelse:
            self.visit(child)


def _collect() -> dict[str, list[Import]]:
    graph: dict[str, list[Import]] = {}
    for name, path in MODULES.items():
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        graph[name] = collector.found
    return graph


GRAPH = _collect()


def imports_of(name: str, *, runtime_only: bool = False) -> list[Import]:
    return [i for i in GRAPH[name] if i.runtime or not runtime_only]


def agentkit_modules(*prefixes: str) -> list[str]:
    return [m for m in MODULES if within(m, *prefixes)]


def path_to(start: str, forbidden: Callable[[str], bool]) -> list[Import] | None:
    """The shortest chain of imports from ``start`` to a module ``forbidden`` accepts
    (every import kind counts), or None."""
    seen = {start}
    queue: deque[tuple[str, list[Import]]] = deque([(start, [])])
    while queue:
        name, chain = queue.popleft()
        for imp in GRAPH.get(name, []):
            if forbidden(imp.target):
                return [*chain, imp]
            if imp.target in MODULES and imp.target not in seen:
                seen.add(imp.target)
                queue.append((imp.target, [*chain, imp]))
    return None


def explain(rule: str, why: str, fix: str, problems: list[str]) -> str:
    return f"\nRULE: {rule}\n  ({why})\n" + "\n".join(f"  - {p}" for p in problems) + f"\nHOW TO FIX: {fix}\n"


def reach_problems(sources: Iterable[str], forbidden: Callable[[str], bool]) -> list[str]:
    """One entry per import that brings a forbidden module in, with the chain of imports
    (file:line each) by which one of ``sources`` reaches it."""
    closing: dict[Import, list[Import]] = {}
    for source in sources:
        chain = path_to(source, forbidden)
        if chain is not None and (chain[-1] not in closing or len(chain) < len(closing[chain[-1]])):
            closing[chain[-1]] = chain
    problems = []
    for last, chain in closing.items():
        if len(chain) == 1:
            problems.append(last.where())
        else:
            steps = "".join(f"\n      {imp.where()}" for imp in chain)
            problems.append(f"{chain[0].source} reaches {last.target}:{steps}")
    return problems


def direct_problems(sources: Iterable[str], allowed: Callable[[str, Import], bool]) -> list[str]:
    return [imp.where() for s in sources for imp in GRAPH[s] if within(imp.target, "agentkit") and not allowed(s, imp)]


# -- the rules ----------------------------------------------------------------------------

BOTTOM = (
    "agentkit.vocabulary",
    "agentkit._text",
    "agentkit._redact",
    "agentkit.task.sections",
    "agentkit.task.mcp_servers",
    "agentkit.task._read",
)
"""Modules every layer stands on: they import nothing of agentkit but each other."""

ALLOWED: dict[str, tuple[str, ...]] = {
    # package (its modules)     -> the packages it may import (besides itself and BOTTOM)
    "agentkit.store": (),
    "agentkit.llm": (),
    "agentkit.sandbox": (),
    "agentkit.net": (),
    "agentkit.telemetry": ("agentkit.store",),
    "agentkit.context": ("agentkit.llm", "agentkit.net", "agentkit.store"),
    "agentkit.tools": ("agentkit.context", "agentkit.llm", "agentkit.net", "agentkit.sandbox", "agentkit.store"),
    "agentkit.report": ("agentkit.llm", "agentkit.store"),
    "agentkit.task": ("agentkit.llm", "agentkit.store"),  # the store: where runs' work dirs are (never read there)
    "agentkit.run": (
        "agentkit.context",
        "agentkit.tools",
        "agentkit.report",
        "agentkit.llm",
        "agentkit.telemetry",
        "agentkit.task",
        "agentkit.store",
        "agentkit.sandbox",
    ),
    "agentkit.ensembles": (
        "agentkit.run",
        "agentkit.context",
        "agentkit.tools",
        "agentkit.report",
        "agentkit.llm",
        "agentkit.telemetry",
        "agentkit.task",
        "agentkit.store",
    ),
    "agentkit.replays": (
        "agentkit.ensembles",
        "agentkit.run",
        "agentkit.context",
        "agentkit.tools",
        "agentkit.llm",
        "agentkit.task",
        "agentkit.store",
    ),
    "agentkit.view": ("agentkit.report", "agentkit.store"),
    "agentkit.eval": (
        "agentkit.ensembles",
        "agentkit.run",
        "agentkit.tools",
        "agentkit.report",
        "agentkit.llm",
        "agentkit.task",
        "agentkit.store",
        "agentkit.sandbox",
    ),
    "agentkit.testing": (
        "agentkit.run",
        "agentkit.context",
        "agentkit.tools",
        "agentkit.llm",
        "agentkit.task",
        "agentkit.store",
    ),
    "agentkit.cli": (
        "agentkit.eval",
        "agentkit.replays",
        "agentkit.view",
        "agentkit.ensembles",
        "agentkit.run",
        "agentkit.context",
        "agentkit.tools",
        "agentkit.report",
        "agentkit.llm",
        "agentkit.telemetry",
        "agentkit.task",
        "agentkit.store",
        "agentkit.sandbox",
        "agentkit.testing",  # the demo only (rule 9)
    ),
    "agentkit.__main__": ("agentkit.cli",),
}
"""``agentkit`` itself (its ``__init__``) re-exports the public names lazily and may import any package."""


def package_of(module: str) -> str:
    """The row of ALLOWED a module belongs to (BOTTOM modules are their own row)."""
    if within(module, *BOTTOM):
        return next(b for b in BOTTOM if within(module, b))
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_each_package_imports_only_what_its_row_allows() -> None:
    rows = set(ALLOWED) | set(BOTTOM) | {"agentkit"}
    unknown = sorted({package_of(m) for m in MODULES} - rows)
    assert not unknown, f"packages with no row in ALLOWED (add one, placed in the layer order): {unknown}"

    def allowed(source: str, imp: Import) -> bool:
        home, target = package_of(source), package_of(imp.target)
        if home == "agentkit" or target == home or (home == "agentkit.task" and within(imp.target, "agentkit.task")):
            return True
        if within(home, *BOTTOM):
            return within(imp.target, *BOTTOM)
        return within(imp.target, *BOTTOM) or target in ALLOWED[home]

    problems = direct_problems(agentkit_modules("agentkit"), allowed)
    assert not problems, explain(
        "each package imports only the packages its row of ALLOWED names",
        "one folder per layer: the table is the architecture, package by package",
        "move the shared piece down to the lowest package that needs it, or let the upper package pass it in; "
        "change the table only when the architecture changes (and DESIGN.md with it)",
        problems,
    )


LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("cli", ("agentkit.cli", "agentkit.__main__")),
    ("eval", ("agentkit.eval",)),
    ("ensembles", ("agentkit.ensembles",)),
    ("run (the loop)", ("agentkit.run",)),
    ("context, tools, report, llm", ("agentkit.context", "agentkit.tools", "agentkit.report", "agentkit.llm")),
    ("store", ("agentkit.store",)),
    ("bottom", BOTTOM),
]
"""Top to bottom. Packages in no layer (``sandbox``, ``telemetry``, ``view``, ``task``, ...) are
helpers: imports are followed through them."""


def test_imports_point_down() -> None:
    problems: list[str] = []
    for depth, (layer, prefixes) in enumerate(LAYERS):
        above = [p for _, ps in LAYERS[:depth] for p in ps]
        if not above:
            continue
        for line in reach_problems(agentkit_modules(*prefixes), lambda t, above=above: within(t, *above)):
            problems.append(f"[{layer}] {line}")
    assert not problems, explain(
        "imports point down: cli -> eval -> ensembles -> run -> context/tools/report/llm -> store -> bottom",
        "a module never reaches, directly or through helpers, a module of a layer above its own",
        "move the shared piece down to the lowest layer that needs it, or let the upper layer pass it in "
        "(a parameter, a registration, a protocol in the lower layer)",
        problems,
    )


def test_the_bottom_imports_nothing_above_it() -> None:
    problems = direct_problems(agentkit_modules(*BOTTOM), lambda s, i: within(i.target, *BOTTOM))
    assert not problems, explain(
        "agentkit.vocabulary, _text, _redact and the task file's sections import nothing of agentkit but each other",
        "they are the bottom every layer stands on: turns, tool calls, usage; clean text; redaction; typed sections",
        "keep them to the standard library and pydantic; code that needs more belongs in a higher layer",
        problems,
    )


def test_llm_knows_no_tools_loop_or_store() -> None:
    forbidden = (
        "agentkit.tools",
        "agentkit.run",
        "agentkit.ensembles",
        "agentkit.store",
        "agentkit.context",
        "agentkit.report",
    )
    problems = reach_problems(agentkit_modules("agentkit.llm"), lambda t: within(t, *forbidden))
    assert not problems, explain(
        "agentkit.llm.* reaches nothing of tools, run, ensembles, store, context, report",
        "the model client knows no tools, loop or store: it turns requests into assistant turns",
        "take what the client needs as data (tool schemas, messages) from agentkit.vocabulary or llm.types",
        problems,
    )


def test_context_does_not_reach_the_loop() -> None:
    forbidden = ("agentkit.run", "agentkit.ensembles")
    problems = reach_problems(agentkit_modules("agentkit.context"), lambda t: within(t, *forbidden))
    assert not problems, explain(
        "agentkit.context.* reaches nothing of the run (the loop, the planner) or the ensembles",
        "the context is a view of the trace; the planner and the loop use it, not the other way round",
        "message builders live in agentkit.context.messages; move what the view needs there",
        problems,
    )


def test_tools_never_reach_the_loop() -> None:
    forbidden = ("agentkit.run", "agentkit.ensembles")
    problems = reach_problems(agentkit_modules("agentkit.tools"), lambda t: within(t, *forbidden))
    assert not problems, explain(
        "agentkit.tools.* reaches nothing of the run (the loop, the planner) or the ensembles",
        "tools never import the loop: they get what they need through ToolContext",
        "add what the tool needs to ToolContext (agentkit.tools.base), filled in by the loop",
        problems,
    )


def test_the_run_does_not_know_about_ensembles() -> None:
    problems = reach_problems(agentkit_modules("agentkit.run"), lambda t: within(t, "agentkit.ensembles"))
    assert not problems, explain(
        "agentkit.run, and everything it imports, never reaches agentkit.ensembles",
        "heavy mode, delegation and swarms sit above the loop and drive it",
        "let the ensembles register with the loop (agentkit.run._ensemble) instead of the loop importing them",
        problems,
    )


def _cycles() -> list[list[Import]]:
    """One cycle (as its imports) per strongly connected group of modules (runtime imports)."""
    edges = {m: [i for i in imports_of(m, runtime_only=True) if i.target in MODULES] for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for imp in edges[node]:
            if imp.target not in index:
                connect(imp.target)
                low[node] = min(low[node], low[imp.target])
            elif imp.target in on_stack:
                low[node] = min(low[node], index[imp.target])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or any(i.target == node for i in edges[node]):
                groups.append(group)

    for module in MODULES:
        if module not in index:
            connect(module)
    cycles = []
    for group in groups:
        start = min(group)
        chain = path_to_within(start, group, edges)
        cycles.append(chain)
    return cycles


def path_to_within(start: str, group: set[str], edges: dict[str, list[Import]]) -> list[Import]:
    """The shortest import chain from ``start`` back to itself, inside ``group``."""
    seen = {start}
    queue: deque[tuple[str, list[Import]]] = deque([(start, [])])
    while queue:
        name, chain = queue.popleft()
        for imp in edges[name]:
            if imp.target == start:
                return [*chain, imp]
            if imp.target in group and imp.target not in seen:
                seen.add(imp.target)
                queue.append((imp.target, [*chain, imp]))
    raise AssertionError(f"{start} is in a cycle group but no cycle was found")


def test_no_import_cycles() -> None:
    problems = [
        " -> ".join([chain[0].source, *(i.target for i in chain)]) + "".join(f"\n      {imp.where()}" for imp in chain)
        for chain in _cycles()
    ]
    assert not problems, explain(
        "no import cycles between agentkit modules (module-level and lazy imports; TYPE_CHECKING ones are not run)",
        "a lazy import inside a function hides a cycle, it does not remove it",
        "break the cycle at the import that points up: pass the object in, or move the shared piece down",
        problems,
    )


TEST_SUPPORT = ("agentkit.testing", "agentkit.cli._demo")


def test_runtime_never_imports_test_support() -> None:
    def allowed(source: str, imp: Import) -> bool:
        if not within(imp.target, *TEST_SUPPORT):
            return True
        if within(source, *TEST_SUPPORT):
            return True
        return source == "agentkit.cli._demo_command" and imp.kind == "inside a function"  # the `demo` command

    problems = direct_problems(MODULES, allowed)
    assert not problems, explain(
        "runtime code never imports agentkit.testing or agentkit.cli._demo (only the CLI's demo command may, inside "
        "its function)",
        "test support - fake providers, scripted models, conformance specs - is not part of a run",
        "move what runtime code needs out of agentkit.testing into the layer that uses it",
        problems,
    )


def test_only_the_conformance_package_imports_pytest() -> None:
    problems = [
        imp.where()
        for module in MODULES
        if not within(module, "agentkit.testing.conformance")
        for imp in GRAPH[module]
        if within(imp.target, "pytest", "_pytest")
    ]
    assert not problems, explain(
        "only agentkit.testing.conformance imports pytest",
        "pytest is a dev dependency: the runtime, and the CLI's demo that runs agentkit.testing, work without it",
        "keep pytest-specific helpers in agentkit.testing.conformance (or in tests/)",
        problems,
    )


# -- the checker itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "code", "expected"),
    [
        ("agentkit.store.x", "from agentkit.llm.types import Usage", [("agentkit.llm.types", "module level")]),
        ("agentkit.store.x", "from . import events", [("agentkit.store.events", "module level")]),
        ("agentkit.store.x", "from .. import vocabulary", [("agentkit.vocabulary", "module level")]),
        ("agentkit.store", "from .base import Store", [("agentkit.store.base", "module level")]),
        ("agentkit.store.x", "from agentkit.store import clean_model", [("agentkit.store", "module level")]),
        ("agentkit.llm.x", "def f():\n    import agentkit.tools.base", [("agentkit.tools.base", "inside a function")]),
        (
            "agentkit.llm.x",
            "import typing\nif typing.TYPE_CHECKING:\n    from agentkit.store import Store\nelse:\n    import os",
            [("typing", "module level"), ("agentkit.store", "under TYPE_CHECKING"), ("os", "module level")],
        ),
        (
            "agentkit.cli",
            "import importlib\nimportlib.import_module('pytest')",
            [("importlib", "module level"), ("pytest", "module level")],
        ),
    ],
)
def test_collector_sees_every_kind_of_import(module: str, code: str, expected: list[tuple[str, str]]) -> None:
    collector = _Collector(module, is_package=module == "agentkit.store")
    collector.visit(ast.parse(code))
    assert [(i.target, i.kind) for i in collector.found] == expected


def test_the_checker_sees_the_whole_package() -> None:
    assert {
        "agentkit",
        "agentkit.vocabulary",
        "agentkit.store.events",
        "agentkit.run.agent",
        "agentkit.cli.commands",
    } <= set(MODULES)
    assert any(i.target == "agentkit.vocabulary" for i in GRAPH["agentkit.store.events"])
    assert all(within(m, "agentkit") for m in MODULES)


def test_telemetry_sits_beside_the_agent() -> None:
    # agent -> telemetry -> store: traces are made from the store's events and the run's fold
    above = ("agentkit.run", "agentkit.ensembles", "agentkit.cli", "agentkit.eval", "agentkit.view")
    beside = ("agentkit.llm", "agentkit.tools", "agentkit.context", "agentkit.report")
    problems = reach_problems(agentkit_modules("agentkit.telemetry"), lambda t: within(t, *above, *beside))
    problems += reach_problems(
        agentkit_modules("agentkit.store", "agentkit.llm", "agentkit.vocabulary"),
        lambda t: within(t, "agentkit.telemetry"),
    )
    assert not problems, explain(
        "agentkit.telemetry reaches only the store, the vocabulary and the run's fold; the store, the llm "
        "client and the vocabulary never reach agentkit.telemetry",
        "spans are made from committed trace events (RunBook tells the observers), so telemetry needs "
        "nothing of the loop, and what it traces must not depend on it",
        "give telemetry what it needs through the events or the fold (agentkit.store.fold); let the upper layer "
        "call telemetry, never the store or the llm",
        problems,
    )


def test_the_root_holds_little_besides_packages() -> None:
    entries = [p for p in PACKAGE.iterdir() if p.name != "__pycache__" and not (p / "__init__.py").exists()]
    names = sorted(e.name for e in entries)
    assert len(entries) <= 12, f"agentkit/ has {len(entries)} entries besides packages: {names}"
    problems = []
    for path in entries:
        name = module_name(path) if path.suffix == ".py" else ""
        if not name.startswith("agentkit._") or name == "agentkit.__main__":
            continue
        users = {package_of(m) for m, imps in GRAPH.items() for i in imps if i.target == name and m != name}
        if len(users - {"agentkit"}) <= 1:
            problems.append(f"{module_file(name)} is imported only by {sorted(users) or 'nothing'}")
    assert not problems, explain(
        "no private module at the root is imported by only one package",
        "the root holds what every layer shares; a module one package uses lives in that package",
        "move the module into the package that uses it",
        problems,
    )
