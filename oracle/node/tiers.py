"""Pure decisions of the epoch loop: epoch arithmetic and the threshold tier an epoch's energy satisfies."""

from __future__ import annotations

from collections.abc import Sequence

MJ_PER_KWH = 3_600_000_000  # 1 kWh = 3.6 MJ = 3.6·10^9 mJ
ECO_WEI = 10**18


def epoch_of(unix_time_s: float, epoch_seconds: int) -> int:
    """epoch = floor(t / L) (INTERFACES.md)."""
    return int(unix_time_s // epoch_seconds)


def epoch_bounds(epoch: int, epoch_seconds: int) -> tuple[int, int]:
    """[e·L, (e+1)·L) in unix seconds."""
    return epoch * epoch_seconds, (epoch + 1) * epoch_seconds


def pick_tier(energy_mj: int, tiers_mj: Sequence[int]) -> int | None:
    """Index of the lowest threshold that the energy stays within (≤), or None when the epoch is over every tier.

    The lowest satisfied threshold earns the most credit, (baseline − threshold); tiers need not be sorted.
    """
    fitting = [(threshold, index) for index, threshold in enumerate(tiers_mj) if energy_mj <= threshold]
    return min(fitting)[1] if fitting else None


def credits_wei(baseline_mj: int, threshold_mj: int) -> int:
    """Eco Credits (18 decimals) earned by an epoch accepted at `threshold_mj` (INTERFACES.md)."""
    return max(baseline_mj - threshold_mj, 0) * ECO_WEI // MJ_PER_KWH
