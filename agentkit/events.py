"""The former name of :mod:`agentkit.live` (live events), kept so existing imports work.

Trace events, the durable record of a run, are :mod:`agentkit.store.events`.
"""

from agentkit.live import *  # noqa: F403
from agentkit.live import __all__ as __all__
