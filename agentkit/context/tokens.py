"""Offline token estimates, calibrated against the provider's ``usage.prompt_tokens``.

No tokenizer download is needed: the estimate is bytes of the encoded request (messages
and tool schemas) times a tokens-per-byte ratio, plus a margin. The ratio starts
conservative and, after each call, becomes the largest ratio observed recently for this
model, so the estimate errs on the safe side by a small amount. Two things keep it from
undercutting the server's count:

- The ratio never falls more than ``max_lowering`` below the conservative initial one.
  One observation can be far too low: a server whose chat template does not render the tool
  schemas counts none of their bytes, and on an early request the schemas are most of the
  bytes, so that ratio was half the real one and the grown history was then estimated at
  ~0.5x of the count. English prose, the sparsest text, is ~0.22-0.25 tokens per byte with
  real tokenizers, so the floor (0.25) costs at most ~15% of the window there.
- Until the provider has reported a count (and always, on a server that reports no usage)
  the margin is wider (``uncalibrated_margin``): the initial ratio is a guess, and views
  of many small messages are denser than prose (JSON structure, placeholders).
- An under-estimate after calibration (the history changed faster than the ratio could
  follow) raises the margin at once by the shortfall; estimates that were safe relax it
  back towards the base margin by half each call.
"""

from __future__ import annotations

import math
from collections import deque

PER_MESSAGE_OVERHEAD = 4


class TokenEstimator:
    def __init__(
        self,
        tokens_per_byte: float = 1 / 3.0,
        margin: float = 0.05,
        uncalibrated_margin: float = 0.25,
        window: int = 16,
        max_lowering: float = 0.25,
        max_margin: float = 0.5,
    ) -> None:
        self.initial = tokens_per_byte
        self.floor = tokens_per_byte * (1 - max_lowering)
        self.base_margin = margin
        self.margin = uncalibrated_margin
        self.max_margin = max_margin
        self._observed: deque[float] = deque(maxlen=window)

    @property
    def tokens_per_byte(self) -> float:
        return max(self.floor, max(self._observed)) if self._observed else self.initial

    @property
    def calibrated(self) -> bool:
        return bool(self._observed)

    def estimate(self, n_bytes: int, n_messages: int = 0) -> int:
        return math.ceil(n_bytes * self.tokens_per_byte * (1 + self.margin)) + PER_MESSAGE_OVERHEAD * n_messages

    def calibrate(self, n_bytes: int, n_messages: int, prompt_tokens: int) -> None:
        """Record what the provider counted for a request of ``n_bytes`` (messages and tool
        schemas, the same bytes the estimate was made from)."""
        if n_bytes <= 0 or prompt_tokens <= 0:
            return
        guess = self.estimate(n_bytes, n_messages)
        if not self.calibrated:
            self.margin = self.base_margin
        elif prompt_tokens > guess:
            self.margin = min(self.max_margin, self.margin + prompt_tokens / guess - 1)
        else:
            self.margin = self.base_margin + (self.margin - self.base_margin) / 2
        content_tokens = max(1, prompt_tokens - PER_MESSAGE_OVERHEAD * n_messages)
        self._observed.append(content_tokens / n_bytes)
