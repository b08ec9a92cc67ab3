"""Backoff with jitter for an unreachable RPC endpoint (pure: the caller sleeps)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff, capped, with "equal jitter": each wait is uniform in [d/2, d] for d = min(cap, base·2^k).

    Jitter spreads the retries of many nodes hitting one endpoint after it returns; the floor of d/2 keeps a
    single node from hammering it.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0
