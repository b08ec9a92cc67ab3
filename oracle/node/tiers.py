"""Pure decisions of the epoch loop on an epoch's energy: which intervals are unmeasured, which tier it satisfies."""

from __future__ import annotations

from collections.abc import Sequence

from oracle.measure.epoch import EpochEnergy

UJ_PER_KWH = 3_600_000_000_000  # µJ in one kWh (v2_design: 1 ECO = 1 kWh saved)


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


def credits_wei(baseline_uj_per_unit: int, tier_uj_per_unit: int, work_units: int, max_units_per_second: int,
                epoch_seconds: int) -> int:
    """ECO-wei of an accepted epoch (GreenProof._credits): (β − τ)·min(W, cap)·10^18 / 3.6·10^12."""
    cap = max_units_per_second * epoch_seconds
    return max(baseline_uj_per_unit - tier_uj_per_unit, 0) * min(work_units, cap) * 10**18 // UJ_PER_KWH
