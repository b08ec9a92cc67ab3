"""Pareto frontier and the weighted recommendation over measured profile rows.

Objectives, all minimised, per item served:
- energy: `energy_j_per_item` (J), as measured;
- latency: `latency_ms` per batch call, as measured;
- cost: GPU time plus energy, `gpu_hour_price / 3600 / items_per_s + energy_j_per_item / J_PER_KWH * energy_price`
  (J_PER_KWH = 3.6e6, oracle.conventions)
  (currency per item; prices are inputs, `Prices`).

Constraints: latency SLO (`latency_ms <= slo`) and quality floor (`quality >= floor`; a row whose quality is
unknown does not meet a floor: unknown is not "good enough").

Frontier: the feasible rows that no other feasible row dominates (<= in every objective, < in one).

Weighted objective (the seed's λ1·cost + λ2·energy + λ3·latency): each objective is min-max normalised over
the feasible rows to [0, 1] (0 = best feasible, 1 = worst; an objective that is equal on all rows is 0), then
score = λ1·cost_n + λ2·energy_n + λ3·latency_n. Lowest score wins; ties go to lower energy, then cost, then
latency, so the winner is always on the frontier. Default weights (0, 1, 0): the greenest feasible row.

Default configuration (the saving's reference): what a deployment runs without optimisation, full precision
at its largest batch: the fp32 row with the largest batch (highest power limit, or none, among those);
when the profile has no fp32 row, its first row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from oracle.conventions import J_PER_KWH
from oracle.errors import UsageError
from oracle.optimize.profile import ProfileRow

DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True, slots=True)
class Prices:
    """Energy price (per kWh) and accelerator rental price (per hour), in euros (EUR), as the CLI prints them."""

    energy_per_kwh: float = 0.15
    gpu_hour: float = 3.0

    def __post_init__(self) -> None:
        if self.energy_per_kwh < 0 or self.gpu_hour < 0:
            raise UsageError("prices must be >= 0")


@dataclass(frozen=True, slots=True)
class Constraints:
    latency_slo_ms: float | None = None
    min_quality: float | None = None

    def __post_init__(self) -> None:
        if self.latency_slo_ms is not None and not self.latency_slo_ms > 0:
            raise UsageError(f"latency SLO must be > 0 ms, got {self.latency_slo_ms}")
        if self.min_quality is not None and not 0 <= self.min_quality <= 1.5:
            raise UsageError(f"quality floor is a fraction of the reference (0..1), got {self.min_quality}")

    def admits(self, row: ProfileRow) -> bool:
        if self.latency_slo_ms is not None and row.latency_ms > self.latency_slo_ms:
            return False
        if self.min_quality is not None and (row.quality is None or row.quality < self.min_quality):
            return False
        return True

    def describe(self) -> str:
        parts = []
        if self.latency_slo_ms is not None:
            parts.append(f"latency <= {self.latency_slo_ms:g} ms")
        if self.min_quality is not None:
            parts.append(f"quality >= {self.min_quality:g}")
        return " and ".join(parts) or "no constraints"


@dataclass(frozen=True, slots=True)
class Weights:
    """λ1 (cost), λ2 (energy), λ3 (latency); non-negative, not all zero."""

    cost: float = 0.0
    energy: float = 1.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        values = (self.cost, self.energy, self.latency)
        if any(v < 0 for v in values) or not any(v > 0 for v in values):
            raise UsageError("weights must be >= 0 and not all zero")

    @classmethod
    def parse(cls, text: str) -> Weights:
        parts = text.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise UsageError(f"--weights wants three numbers l1,l2,l3 (cost,energy,latency), got {text!r}") from None
        if len(values) != 3:
            raise UsageError(f"--weights wants three numbers l1,l2,l3 (cost,energy,latency), got {text!r}")
        return cls(*values)


def cost_per_item(row: ProfileRow, prices: Prices) -> float:
    """GPU time plus energy cost of one item, in the prices' currency."""
    return prices.gpu_hour / 3600.0 / row.items_per_s + row.energy_j_per_item / J_PER_KWH * prices.energy_per_kwh


def objectives(rows: Sequence[ProfileRow], prices: Prices) -> np.ndarray:
    """(n, 3) array of [cost, energy, latency] per item, all to be minimised."""
    return np.array(
        [[cost_per_item(r, prices), r.energy_j_per_item, r.latency_ms] for r in rows], dtype=float
    ).reshape(len(rows), 3)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is no worse than b in every objective and better in at least one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, k) array of objectives to minimise."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = np.all(points <= points[i], axis=1)
        better = np.any(points < points[i], axis=1)
        if np.any(no_worse & better):
            keep[i] = False
    return keep


def feasible_rows(rows: Sequence[ProfileRow], constraints: Constraints) -> list[ProfileRow]:
    """Rows meeting the constraints; UsageError (one line) when none does."""
    if not rows:
        raise UsageError("empty profile: no configurations to choose from")
    feasible = [r for r in rows if constraints.admits(r)]
    if not feasible:
        best_latency = min(r.latency_ms for r in rows)
        known = [r.quality for r in rows if r.quality is not None]
        best_quality = f"{max(known):g}" if known else "unknown"
        raise UsageError(
            f"no configuration meets {constraints.describe()} "
            f"(best latency {best_latency:g} ms, best quality {best_quality})"
        )
    return feasible


def frontier(rows: Sequence[ProfileRow], constraints: Constraints = Constraints(),
             prices: Prices = Prices()) -> list[ProfileRow]:
    """The feasible rows no other feasible row dominates on (cost, energy, latency), in profile order."""
    feasible = feasible_rows(rows, constraints)
    mask = pareto_mask(objectives(feasible, prices))
    return [r for r, keep in zip(feasible, mask, strict=True) if keep]


def default_row(rows: Sequence[ProfileRow]) -> ProfileRow:
    """The unoptimised reference: fp32 at its largest batch (then highest power limit); else the first row."""
    if not rows:
        raise UsageError("empty profile: no configurations to choose from")
    full = [r for r in rows if r.precision.lower() == DEFAULT_PRECISION]
    if not full:
        return rows[0]
    return max(full, key=lambda r: (r.batch, r.power_limit_w if r.power_limit_w is not None else -1.0))


def scores(rows: Sequence[ProfileRow], weights: Weights, prices: Prices) -> np.ndarray:
    """Weighted, min-max normalised objective per row (lower is better)."""
    obj = objectives(rows, prices)
    lo, hi = obj.min(axis=0), obj.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    normalised = (obj - lo) / span
    return normalised @ np.array([weights.cost, weights.energy, weights.latency])


@dataclass(frozen=True, slots=True)
class Saving:
    """Recommendation against the default configuration (positive = the recommendation is better)."""

    energy_j_per_item: float
    energy_pct: float
    cost_per_item: float
    cost_pct: float
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    row: ProfileRow
    frontier: list[ProfileRow]
    default: ProfileRow
    saving: Saving
    constraints: Constraints = field(default_factory=Constraints)
    weights: Weights = field(default_factory=Weights)
    prices: Prices = field(default_factory=Prices)


def recommend(rows: Sequence[ProfileRow], constraints: Constraints = Constraints(),
              weights: Weights = Weights(), prices: Prices = Prices()) -> Recommendation:
    """Frontier, the lowest weighted-score feasible row, and its saving against the default row."""
    feasible = feasible_rows(rows, constraints)
    front = frontier(rows, constraints, prices)
    score = scores(feasible, weights, prices)
    best = min(
        range(len(feasible)),
        key=lambda i: (round(float(score[i]), 12), feasible[i].energy_j_per_item,
                       cost_per_item(feasible[i], prices), feasible[i].latency_ms),
    )
    row = feasible[best]
    base = default_row(rows)
    base_cost, row_cost = cost_per_item(base, prices), cost_per_item(row, prices)
    saving = Saving(
        energy_j_per_item=base.energy_j_per_item - row.energy_j_per_item,
        energy_pct=100.0 * (1.0 - row.energy_j_per_item / base.energy_j_per_item),
        cost_per_item=base_cost - row_cost,
        cost_pct=100.0 * (1.0 - row_cost / base_cost) if base_cost > 0 else 0.0,
        latency_ms=base.latency_ms - row.latency_ms,
    )
    return Recommendation(row, front, base, saving, constraints, weights, prices)


def recommended_configuration(rows: Sequence[ProfileRow], latency_slo_ms: float | None = None,
                              min_quality: float | None = None) -> ProfileRow:
    """For the oracle node: the greenest configuration meeting the constraints (default weights and prices).

    Raises oracle.errors.UsageError when the profile is empty or no row meets the constraints.
    """
    return recommend(rows, Constraints(latency_slo_ms, min_quality)).row
