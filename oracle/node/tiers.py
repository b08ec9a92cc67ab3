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


def pick_tier(energy_mj: int, work_units: int, tiers_uj_per_unit: Sequence[int]) -> int | None:
    """Index of the lowest efficiency tier τ (µJ per unit) the epoch meets, τ·W ≥ 1000·Σe (the circuit's
    constraint), or None when it is over every tier or did no work (W = 0 meets nothing: zero work never earns).

    The lowest tier met earns the most credit, (β − τ)·W; tiers need not be sorted.
    """
    if work_units <= 0:
        return None
    fitting = [(tau, index) for index, tau in enumerate(tiers_uj_per_unit) if tau * work_units >= 1000 * energy_mj]
    return min(fitting)[1] if fitting else None

