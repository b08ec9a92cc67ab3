"""Eco Score 0–100 (formula and worked example in docs/eco-score.md).

v2 — the Eco Score of AI work (`efficiency_eco_score`, `epochs_eco_score`): efficiency against the class
baseline, the one formula the CLI, the node and the web use:

    Eco Score = 100 × max(0, 1 − η/β)      η = energy per unit of work (µJ/unit), β = the class baseline
    over several epochs (work-weighted):  100 × max(0, 1 − Σ η_i·W_i / Σ β_i·W_i)

It is the share of the baseline energy saved for the work actually done, so it moves with the credits
(credits ∝ (β − τ)·W): 0 at or above the baseline, 100 only for zero energy. The web computes it from the
proven tiers τ (an upper bound of η), the node and the CLI from the measured η; the same function either way.

Legacy carbon-report score (`eco_score`, below; `ecoai report`): kept until the report moves to the formula
above.

    e = E / (P_ref × H)          energy against the hardware class running at its TDP for the same hours
    c = I / I_world              grid intensity against the generation-weighted world mean
    r = e × c                    the workload's carbon relative to the class's reference carbon
    f(r) = 1 − r/2  (r ≤ 1);  1/(2r)  (r > 1)      continuous and smooth at r = 1, strictly decreasing
    Eco Score = 100 × q × f(r)   q = fraction of the reference model quality retained (0–1)

Non-increasing in energy and intensity, increasing in quality; 100 only for zero carbon at full quality.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EcoScore:
    score: float
    energy_ratio: float  # e
    intensity_ratio: float  # c
    carbon_ratio: float  # r
    quality: float  # q
    reference_power_w: float
    reference_intensity_g_per_kwh: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def carbon_factor(r: float) -> float:
    """f(r): 1 at zero carbon, 1/2 at the reference, → 0 as r grows."""
    return 1.0 - r / 2.0 if r <= 1.0 else 1.0 / (2.0 * r)


def eco_score(energy_kwh: float, hours: float, intensity_g_per_kwh: float, quality: float,
              reference_power_w: float, reference_intensity_g_per_kwh: float) -> EcoScore:
    """Eco Score of a workload; raises ValueError on inputs outside their domain."""
    if energy_kwh < 0:
        raise ValueError(f"energy must be >= 0 kWh (got {energy_kwh})")
    if hours <= 0:
        raise ValueError(f"hours must be > 0 (got {hours})")
    if intensity_g_per_kwh < 0:
        raise ValueError(f"intensity must be >= 0 g/kWh (got {intensity_g_per_kwh})")
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"quality retained must be between 0 and 1 (got {quality})")
    if reference_power_w <= 0 or reference_intensity_g_per_kwh <= 0:
        raise ValueError("reference power and intensity must be positive")
    e = energy_kwh / (reference_power_w / 1000.0 * hours)
    c = intensity_g_per_kwh / reference_intensity_g_per_kwh
    r = e * c
    return EcoScore(100.0 * quality * carbon_factor(r), e, c, r, quality, reference_power_w,
                    reference_intensity_g_per_kwh)


# --- v2: efficiency against the class baseline -----------------------------------------------------------------
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
