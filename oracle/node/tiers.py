"""Pure decisions of the epoch loop on an epoch's energy: which intervals are unmeasured, which tier it satisfies."""

from __future__ import annotations

from collections.abc import Sequence

from oracle.measure.epoch import EpochEnergy


def unmeasured_intervals(energy: EpochEnergy) -> list[int]:
    """Indexes of the N intervals that a gap of the epoch overlaps (their energies are a lower bound)."""
    n = len(energy.intervals_mj)
    width = (energy.t1 - energy.t0) / n
    return sorted(
        {
            k
            for g in energy.gaps
            for k in range(n)
            if g.t_start < energy.t0 + (k + 1) * width and g.t_end > energy.t0 + k * width
        }
    )


def pick_tier(energy_mj: int, tiers_mj: Sequence[int]) -> int | None:
    """Index of the lowest threshold that the energy stays within (≤), or None when the epoch is over every tier.

    The lowest satisfied threshold earns the most credit, (baseline − threshold); tiers need not be sorted.
    """
    fitting = [(threshold, index) for index, threshold in enumerate(tiers_mj) if energy_mj <= threshold]
    return min(fitting)[1] if fitting else None
