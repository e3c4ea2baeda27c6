"""The runner: every spec against a backend, collected in a :class:`ConformanceReport`."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from agentkit.testing.conformance._harness import Backend, NotApplicable, Spec, StoreFactory
from agentkit.testing.conformance.capabilities import Capability
from agentkit.testing.conformance.report import ConformanceReport, SpecResult
from agentkit.testing.conformance.spec import SPECS

_SPEC_DIR = Path(__file__).parent / "spec"


async def run_spec(spec: Spec, backend: Backend) -> None:
    """Run one spec and close every store it opened (its own errors propagate)."""
    try:
        await spec.run(backend)
    finally:
        await backend.close_all()


async def validate(
    fresh: Callable[[], StoreFactory],
    *,
    name: str = "",
    reopen: bool = False,
    concurrency: int = 50,
    capabilities: Iterable[Capability] | None = None,
) -> ConformanceReport:
    """Run the specs (of ``capabilities``, default all) against a backend.

    ``fresh()`` is called once per spec and returns a store factory over new, empty backing
    data (``lambda: MemoryStore`` for the memory store; for a file or a database, a factory
    over a new file or schema each time). ``reopen``: the backend is persistent.
    """
    wanted = set(capabilities) if capabilities is not None else set(Capability)
    report = ConformanceReport(backend=name or "store")
    for spec in SPECS:
        if spec.capability not in wanted:
            continue
        factory = fresh()
        try:
            await run_spec(spec, Backend(factory, reopen=reopen, concurrency=concurrency))
        except NotApplicable as na:
            report.results.append(SpecResult(spec.capability, spec.name, "not applicable", na.reason))
        except Exception as exc:
            report.results.append(SpecResult(spec.capability, spec.name, "failed", _describe(exc)))
        else:
            report.results.append(SpecResult(spec.capability, spec.name, "passed"))
    return report


def _describe(exc: Exception) -> str:
    """The exception and the spec line it came from (``spec/log.py:31: assert ...``)."""
    what = "".join(traceback.format_exception_only(exc)).strip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).parent == _SPEC_DIR]
    if not frames:
        return what
    at = frames[-1]
    return f"{what} (at spec/{Path(at.filename).name}:{at.lineno}: {at.line})"


__all__ = ["run_spec", "validate"]
