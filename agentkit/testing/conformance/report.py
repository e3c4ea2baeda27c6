"""What a conformance run found: per spec and per capability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentkit.testing.conformance.capabilities import CAPABILITIES, REQUIRED, Capability

Outcome = Literal["passed", "failed", "not applicable"]


@dataclass(frozen=True)
class SpecResult:
    capability: Capability
    name: str
    outcome: Outcome
    detail: str = ""
    """Why it failed (the exception and where), or why it does not apply."""


@dataclass
class ConformanceReport:
    """Which capabilities a backend passes, fails, or that do not apply to it."""

    backend: str
    results: list[SpecResult] = field(default_factory=list)

    def outcome(self, capability: Capability) -> Outcome:
        """``failed`` when any of its specs failed; ``not applicable`` when none applied
        (or none ran); else ``passed``."""
        outcomes = {r.outcome for r in self.results if r.capability == capability}
        if "failed" in outcomes:
            return "failed"
        return "passed" if "passed" in outcomes else "not applicable"

    @property
    def capabilities(self) -> dict[Capability, Outcome]:
        return {c: self.outcome(c) for c in CAPABILITIES}

    @property
    def passed(self) -> list[Capability]:
        return [c for c, o in self.capabilities.items() if o == "passed"]

    @property
    def failed(self) -> list[Capability]:
        return [c for c, o in self.capabilities.items() if o == "failed"]

    @property
    def not_applicable(self) -> list[Capability]:
        return [c for c, o in self.capabilities.items() if o == "not applicable"]

    @property
    def failures(self) -> list[SpecResult]:
        return [r for r in self.results if r.outcome == "failed"]

    def conforms(self) -> bool:
        """Every required capability passed and no capability failed."""
        return not self.failed and all(self.outcome(c) == "passed" for c in REQUIRED)

    def summary(self) -> str:
        """One line per capability, then each failure with its reason."""
        lines = [f"Store conformance of {self.backend}: {'conforms' if self.conforms() else 'DOES NOT CONFORM'}"]
        for capability, outcome in self.capabilities.items():
            specs = [r for r in self.results if r.capability == capability]
            ok = sum(r.outcome == "passed" for r in specs)
            optional = "" if capability in REQUIRED else " (optional)"
            lines.append(f"  {capability.value:<17} {outcome:<15} {ok}/{len(specs)} specs{optional}")
        for r in self.results:
            if r.outcome != "passed":
                lines.append(f"  {r.outcome}: {r.capability.value}/{r.name}: {r.detail}")
        return "\n".join(lines)


__all__ = ["ConformanceReport", "Outcome", "SpecResult"]
