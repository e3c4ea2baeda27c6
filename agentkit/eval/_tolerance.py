"""The ``number`` grader's tolerance: relative to the expected number, exact by default.

``0.01`` accepts answers within 1% of the expected value (``|got - want| <= 0.01 * |want|``);
``0`` (the default) is GAIA's rule, the same number after normalising. Set per eval
(``--tolerance``, the config's ``eval: {tolerance: ...}``) or per task (a suite line's
``tolerance``, which wins).
"""

from __future__ import annotations

import math

MAX_TOLERANCE = 1.0
"""The largest tolerance taken (100%: anything between 0 and twice the expected number);
beyond it a "number" grade would say nothing. The config's ``eval.tolerance`` has the same bound."""


def check_tolerance(value: object) -> float:
    """``value`` as a tolerance, or ``ValueError`` saying what a tolerance must be."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number between 0 and {MAX_TOLERANCE:g} (got {value!r})")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= MAX_TOLERANCE:
        raise ValueError(
            f"must be a relative tolerance between 0 and {MAX_TOLERANCE:g}, e.g. 0.01 for 1% (got {value!r})"
        )
    return number


def describe(tolerance: float) -> str:
    """``exact`` or ``within 1% (tolerance 0.01)``, for a grade's reasoning."""
    return "exact" if tolerance == 0 else f"within {tolerance:.6g} relative ({tolerance * 100:.6g}%)"
