"""Run limits: steps, total tokens, cost and active time."""

from __future__ import annotations

from pydantic import BaseModel

from agentkit._state import RunState

NEAR = 0.85
WRAP_UP_PROMPT = (
    "You are close to a limit of this run ({reason}). Wrap up: stop exploring, verify only what "
    "your answer depends on, and give your final answer soon."
)


class RunLimits(BaseModel):
    max_steps: int = 300
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    """Total tokens (prompt + completion) over the whole run."""
    max_seconds: float | None = None

    def _usage(self, state: RunState, elapsed: float, cost: float | None = None) -> list[tuple[str, float, float]]:
        used: list[tuple[str, float, float]] = [("max_steps", state.step, self.max_steps)]
        if self.max_cost_usd is not None:
            used.append(("max_cost_usd", state.cost_usd if cost is None else cost, self.max_cost_usd))
        if self.max_tokens is not None:
            used.append(("max_tokens", state.usage.total_tokens, self.max_tokens))
        if self.max_seconds is not None:
            used.append(("max_seconds", elapsed, self.max_seconds))
        return used

    def exceeded(self, state: RunState, elapsed: float, cost: float | None = None) -> str | None:
        """The limit (other than steps, which end with a final-answer turn) that is reached.
        ``cost``: spending shared with sibling runs (heavy mode), instead of this run's own."""
        for name, value, limit in self._usage(state, elapsed, cost)[1:]:
            if value >= limit:
                return f"{name}={limit:g} reached ({value:.4g})"
        return None

    def near(self, state: RunState, elapsed: float) -> str | None:
        """A limit that the next step or two could reach (by the size of the last step)."""
        last = state.records[-1].event.turn if state.records else None
        step_size = {
            "max_steps": 1.0,
            "max_cost_usd": last.cost_usd if last else 0.0,
            "max_tokens": float(last.usage.total_tokens) if last else 0.0,
        }
        for name, value, limit in self._usage(state, elapsed):
            if name == "max_steps" and limit < 6:
                continue
            projected = value + 2 * step_size.get(name, 0.0)
            if value >= NEAR * limit or projected >= limit:
                return f"{name}={limit:g}, used {value:.4g}"
        return None
