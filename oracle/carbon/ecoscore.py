"""The Eco Score of AI work, 0–100 (formula and worked example in docs/eco-score.md): efficiency against the
efficiency class's baseline; the one formula, which `ecoai report` and the web use:

    Eco Score = 100 × max(0, 1 − η/β)      η = energy per unit of work (µJ/unit), β = the class baseline
    over several epochs (work-weighted):  100 × max(0, 1 − Σ η_i·W_i / Σ β_i·W_i)

It is the share of the baseline energy saved for the work actually done, so it moves with the credits
(credits ∝ (β − τ)·W): 0 at or above the baseline, 100 only for zero energy, and no score without work (using
little energy while doing nothing earns nothing). The web computes it from the proven tiers τ (an upper bound of
η), `ecoai report` from the η measured in the node's measurement store; the same function either way.
"""

from __future__ import annotations

from collections.abc import Iterable


def efficiency_eco_score(efficiency_uj_per_unit: float, baseline_uj_per_unit: float) -> float:
    """Eco Score of one epoch: 100 × max(0, 1 − η/β), rounded to 0.01 (η: energy per unit, β: class baseline).

    Raises ValueError for a non-positive baseline or a negative efficiency."""
    if baseline_uj_per_unit <= 0:
        raise ValueError(f"the class baseline must be > 0 µJ/unit (got {baseline_uj_per_unit})")
    if efficiency_uj_per_unit < 0:
        raise ValueError(f"energy per unit must be >= 0 µJ/unit (got {efficiency_uj_per_unit})")
    return round(100.0 * max(0.0, 1.0 - efficiency_uj_per_unit / baseline_uj_per_unit), 2)


def epochs_eco_score(epochs: Iterable[tuple[float, float, float]]) -> float | None:
    """Eco Score of several epochs, each (η µJ/unit, W units, β µJ/unit): 100 × max(0, 1 − Σ η·W / Σ β·W).

    Work-weighted, so it equals `efficiency_eco_score` for one epoch and is the share of the baseline energy
    saved over all the work. None when there is no work (no score without work)."""
    used = baseline = 0.0
    for efficiency, work, beta in epochs:
        if beta <= 0 or efficiency < 0 or work < 0:
            raise ValueError(f"invalid epoch (η={efficiency}, W={work}, β={beta})")
        used += efficiency * work
        baseline += beta * work
    if baseline <= 0:
        return None
    return round(100.0 * max(0.0, 1.0 - used / baseline), 2)
