"""Online configuration learning for a recurring job: Bayesian bandit over configurations under a latency SLO.

Each trial runs the job once in one configuration (an "arm") and measures its energy per item and latency.
The learner keeps a Gaussian posterior over log energy and log latency of every arm, with a kernel that
shares information between arms through the configuration knobs (a Gaussian process on a finite set):

    log y(arm) = β·x(arm) + u(arm) + noise,   β ~ N(μ0, Σ0),  u(arm) ~ N(0, τ²),  noise ~ N(0, σ²)

with x = [1, log2 batch, log2(bits/32), power-limit fraction - 1]. The prior on β encodes only well-known
tendencies (PRIORS): larger batches cost less energy per item and take longer per call; fewer bits tend
to cost less energy (weakly held), with no assumed direction for latency. The intercepts are broad, so the
level is learnt from the first measurement; the per-arm term u lets every arm leave the trend once measured.

The first trial runs the arm with the lowest prior-mean energy (largest batch, fewest bits): before any
measurement the levels are unknown. Then, per trial, one of two acquisition rules:
- "cei" (default): constrained expected improvement, E[max(0, log best-so-far − log energy)] × P(latency ≤
  SLO) from the posteriors: deterministic given the data, and it explores an arm only while it may beat
  the incumbent and is at least 10 % likely to be fast enough (min_p_feasible); once no arm is worth `min_gain` (1 % expected gain), it runs the
  best configuration seen;
- "thompson": Thompson sampling: one joint draw of the energy posterior, the lowest-drawn arm among those
  more likely than not to meet the SLO.
On our two profiles cEI needs fewer trials (bench/optimizer.py prints both). Arms below the quality floor
(quality known from the profile) are never tried.

The recommendation after t trials is the measured arm with the lowest mean measured energy among those whose
mean measured latency meets the SLO: only configurations actually seen to work are recommended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from oracle.errors import UsageError
from oracle.optimize.profile import PRECISION_BITS, ProfileRow

# Prior mean and std of β for [intercept, log2 batch, log2 bits, power-limit fraction], in natural-log units.
PRIORS = {
    # Per doubling of the batch, energy per item falls by 0 (compute-bound) to ln 2 (overhead-bound): mid -0.35.
    # Halving the bits tends to save energy per item (mean 0.2 per halving, wide: CPUs without bf16 units
    # pay for emulation); no power-limit effect is assumed.
    "energy": (np.array([0.0, -0.35, 0.2, 0.0]), np.array([10.0, 0.35, 0.5, 0.5])),
    # Per doubling of the batch, latency per call grows by 0 (overhead-bound) to ln 2 (compute-bound).
    # Fewer bits: faster on GPUs with tensor cores, slower on CPUs that emulate bf16, so no direction assumed.
    "latency": (np.array([0.0, 0.35, 0.0, 0.0]), np.array([10.0, 0.35, 0.5, 0.5])),
}
ARM_STD = 0.3


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _pooled_noise_var(arms: list[int], values: list[float], prior_var: float, prior_weight: int = 2) -> float:
    """Measurement noise learnt from repeated trials of the same arm (pooled within-arm variance), shrunk
    towards the assumed prior noise with the weight of `prior_weight` observations."""
    groups: dict[int, list[float]] = {}
    for a, v in zip(arms, values, strict=True):
        groups.setdefault(a, []).append(v)
    ss, dof = 0.0, 0
    for vals in groups.values():
        if len(vals) > 1:
            m = sum(vals) / len(vals)
            ss += sum((v - m) ** 2 for v in vals)
            dof += len(vals) - 1
    return (ss + prior_weight * prior_var) / (dof + prior_weight)


def features(rows: Sequence[ProfileRow]) -> np.ndarray:
    limits = [r.power_limit_w for r in rows if r.power_limit_w is not None]
    top = max(limits) if limits else 1.0
    out = []
    for r in rows:
        bits = PRECISION_BITS.get(r.precision.lower(), 32)
        limit = (r.power_limit_w / top) if r.power_limit_w is not None else 1.0
        out.append([1.0, math.log2(r.batch), math.log2(bits / 32), limit - 1.0])
    return np.array(out)


class GaussianArms:
    """Joint Gaussian posterior over log-values of a finite set of arms (GP with a linear + per-arm kernel)."""

    def __init__(self, x: np.ndarray, prior_mean: np.ndarray, prior_std: np.ndarray, arm_std: float,
                 noise_std: float) -> None:
        self.mean0 = x @ prior_mean
        self.cov0 = x @ np.diag(prior_std**2) @ x.T + arm_std**2 * np.eye(len(x))
        self.noise_var = noise_std**2
        self.arms: list[int] = []
        self.values: list[float] = []

    def observe(self, arm: int, log_value: float) -> None:
        self.arms.append(arm)
        self.values.append(log_value)

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.arms:
            return self.mean0, self.cov0
        idx = np.array(self.arms)
        k_oo = self.cov0[np.ix_(idx, idx)] + self.noise_var * np.eye(len(idx))
        k_ao = self.cov0[:, idx]
        resid = np.array(self.values) - self.mean0[idx]
        chol = np.linalg.cholesky(k_oo)
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, resid))
        v = np.linalg.solve(chol, k_ao.T)
        return self.mean0 + k_ao @ alpha, self.cov0 - v.T @ v

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        mean, cov = self.posterior()
        cov = (cov + cov.T) / 2 + 1e-9 * np.eye(len(mean))
        return rng.multivariate_normal(mean, cov, method="cholesky")


@dataclass
class ThompsonTuner:
    """Picks configurations for a recurring job from live measurements (see module docstring)."""

    rows: Sequence[ProfileRow]
    latency_slo_ms: float | None = None
    min_quality: float | None = None
    noise_std: float = 0.1  # prior guess of log-space measurement noise (≈10 %); learnt from repeated trials
    seed: int = 0
    strategy: str = "cei"  # "cei" (constrained expected improvement) or "thompson"
    min_p_feasible: float = 0.1  # cEI: arms less likely than this to meet the SLO are not tried
    min_gain: float = 0.01  # cEI: stop exploring when the expected log-energy gain × P(feasible) is below this
    rng: np.random.Generator = field(init=False)
    allowed: list[int] = field(init=False)
    history: list[tuple[int, float, float]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if not self.rows:
            raise UsageError("empty profile: nothing to tune")
        if self.strategy not in ("cei", "thompson"):
            raise UsageError(f"unknown strategy {self.strategy!r}: use cei or thompson")
        self.rng = np.random.default_rng(self.seed)
        self.allowed = [
            i for i, r in enumerate(self.rows)
            if self.min_quality is None or (r.quality is not None and r.quality >= self.min_quality)
        ]
        if not self.allowed:
            raise UsageError(f"no configuration has known quality >= {self.min_quality:g}")
        x = features([self.rows[i] for i in self.allowed])
        self.energy = GaussianArms(x, *PRIORS["energy"], ARM_STD, self.noise_std)
        self.latency = GaussianArms(x, *PRIORS["latency"], ARM_STD, self.noise_std)

    def choose(self) -> int:
        """Index (into rows) of the configuration to run next."""
        if not self.history:  # nothing known about the level yet: start where the prior expects least energy
            return self.allowed[int(np.argmin(self.energy.mean0))]
        p_ok = self._p_feasible()
        if self.strategy == "thompson":
            e = self.energy.sample(self.rng)
            ok = p_ok >= 0.5
            pick = int(np.argmin(np.where(ok, e, np.inf))) if ok.any() else int(np.argmax(p_ok))
            return self.allowed[pick]
        # Constrained expected improvement: E[max(0, incumbent - log energy)] · P(latency <= SLO).
        mean, cov = self.energy.posterior()
        sd = np.sqrt(np.maximum(np.diag(cov), 1e-12))
        best = self.best()
        incumbent = math.log(self._mean_energy(best)) if best is not None else float(np.max(mean))
        z = (incumbent - mean) / sd
        ei = (incumbent - mean) * _norm_cdf(z) + sd * _norm_pdf(z)
        score = np.where(p_ok >= self.min_p_feasible, ei * p_ok, 0.0)
        if best is not None and float(np.max(score)) < self.min_gain:
            return best  # nothing left worth a trial: run the best configuration seen (exploit)
        if not np.any(score > 1e-12):
            return self.allowed[int(np.argmax(p_ok))]
        return self.allowed[int(np.argmax(score))]

    def _p_feasible(self) -> np.ndarray:
        if self.latency_slo_ms is None:
            return np.ones(len(self.allowed))
        mean, cov = self.latency.posterior()
        z = (math.log(self.latency_slo_ms) - mean) / np.sqrt(np.maximum(np.diag(cov), 1e-12))
        return _norm_cdf(z)

    def _mean_energy(self, row_index: int) -> float:
        values = [e for i, e, _ in self.history if i == row_index]
        return sum(values) / len(values)

    def update(self, row_index: int, energy_j_per_item: float, latency_ms: float) -> None:
        k = self.allowed.index(row_index)
        self.energy.observe(k, math.log(energy_j_per_item))
        self.latency.observe(k, math.log(latency_ms))
        self.history.append((row_index, energy_j_per_item, latency_ms))
        for gp in (self.energy, self.latency):
            gp.noise_var = _pooled_noise_var(gp.arms, gp.values, self.noise_std**2)

    def best(self) -> int | None:
        """Measured configuration with the lowest mean energy whose mean latency meets the SLO (None yet)."""
        sums: dict[int, list[float]] = {}
        for i, e, lat in self.history:
            s = sums.setdefault(i, [0.0, 0.0, 0.0])
            s[0] += e
            s[1] += lat
            s[2] += 1
        ok = [(s[0] / s[2], i) for i, s in sums.items()
              if self.latency_slo_ms is None or s[1] / s[2] <= self.latency_slo_ms]
        return min(ok)[1] if ok else None


@dataclass
class ProfileSimulator:
    """A recurring job replayed from a measured profile with multiplicative log-normal measurement noise."""

    rows: Sequence[ProfileRow]
    noise_cv: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def run(self, index: int) -> tuple[float, float]:
        r = self.rows[index]
        s = math.sqrt(math.log(1 + self.noise_cv**2))
        noise = self.rng.lognormal(-s * s / 2, s, size=2)
        return r.energy_j_per_item * noise[0], r.latency_ms * noise[1]


@dataclass(frozen=True, slots=True)
class BanditRun:
    trials: int
    chosen: list[int]
    regret_j_per_item: list[float]  # cumulative: Σ (energy of chosen arm − best feasible energy)
    slo_violations: int  # trials that ran an infeasible configuration
    recommendation: list[int | None]  # after each trial
    trials_to_within: int | None  # first trial after which the recommendation is within tolerance


def best_feasible(rows: Sequence[ProfileRow], latency_slo_ms: float | None,
                  min_quality: float | None = None) -> int:
    ok = [i for i, r in enumerate(rows)
          if (latency_slo_ms is None or r.latency_ms <= latency_slo_ms)
          and (min_quality is None or (r.quality is not None and r.quality >= min_quality))]
    if not ok:
        raise UsageError("no configuration meets the constraints")
    return min(ok, key=lambda i: rows[i].energy_j_per_item)


def simulate(rows: Sequence[ProfileRow], latency_slo_ms: float | None, trials: int, seed: int,
             noise_cv: float = 0.05, min_quality: float | None = None, tolerance: float = 0.05,
             strategy: str = "cei") -> BanditRun:
    """Run the tuner against the profile simulator; regret and trials needed use the true (profile) values."""
    star = best_feasible(rows, latency_slo_ms, min_quality)
    e_star = rows[star].energy_j_per_item
    tuner = ThompsonTuner(rows, latency_slo_ms, min_quality, seed=seed, strategy=strategy)
    sim = ProfileSimulator(rows, noise_cv, seed=seed + 10_000)
    chosen, regret, recs = [], [], []
    total, violations, within = 0.0, 0, None
    for t in range(1, trials + 1):
        i = tuner.choose()
        energy, latency = sim.run(i)
        tuner.update(i, energy, latency)
        chosen.append(i)
        feasible = latency_slo_ms is None or rows[i].latency_ms <= latency_slo_ms
        violations += 0 if feasible else 1
        total += max(0.0, rows[i].energy_j_per_item - e_star)
        regret.append(total)
        rec = tuner.best()
        recs.append(rec)
        good = (rec is not None and rows[rec].energy_j_per_item <= (1 + tolerance) * e_star
                and (latency_slo_ms is None or rows[rec].latency_ms <= latency_slo_ms))
        if good and within is None:
            within = t
        elif not good:
            within = None  # must stay within tolerance from then on
    return BanditRun(trials, chosen, regret, violations, recs, within)
