"""The specs, one module per capability (``spec/<capability>.py``)."""

from agentkit.testing.conformance._harness import Spec, registered
from agentkit.testing.conformance.spec import (  # noqa: F401  (importing registers their specs)
    blobs,
    cache,
    lease_visibility,
    leases,
    lifecycle,
    log,
    persistence,
    round_trip,
    runs,
    search,
    sources,
)

SPECS: tuple[Spec, ...] = registered()
"""Every spec, grouped by capability in the order the capabilities are listed."""

__all__ = ["SPECS"]
