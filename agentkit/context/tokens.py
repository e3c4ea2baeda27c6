"""Offline token estimates, calibrated against the provider's ``usage.prompt_tokens``.

No tokenizer download is needed: the estimate is bytes of the encoded messages times a
tokens-per-byte ratio. The ratio starts conservative and, after each call, becomes the
largest ratio observed recently for this model, plus a margin, so the estimate errs on
the safe side by a small amount.
"""

from __future__ import annotations

import math
from collections import deque

PER_MESSAGE_OVERHEAD = 4


class TokenEstimator:
    def __init__(self, tokens_per_byte: float = 1 / 3.0, margin: float = 0.05, window: int = 16) -> None:
        self.initial = tokens_per_byte
        self.margin = margin
        self._observed: deque[float] = deque(maxlen=window)

    @property
    def tokens_per_byte(self) -> float:
        return max(self._observed) if self._observed else self.initial

    @property
    def calibrated(self) -> bool:
        return bool(self._observed)

    def estimate(self, n_bytes: int, n_messages: int = 0) -> int:
        return math.ceil(n_bytes * self.tokens_per_byte * (1 + self.margin)) + PER_MESSAGE_OVERHEAD * n_messages

    def calibrate(self, n_bytes: int, n_messages: int, prompt_tokens: int) -> None:
        """Record what the provider counted for a request of ``n_bytes``."""
        if n_bytes <= 0 or prompt_tokens <= 0:
            return
        content_tokens = max(1, prompt_tokens - PER_MESSAGE_OVERHEAD * n_messages)
        self._observed.append(content_tokens / n_bytes)
