"""Optimizer figures: recommendation and saving on both measured profiles, and the online learner's
trials-to-within-5 % and regret (median over seeds) against the ≤ 25 %-of-the-grid target.

Run: .venv/bin/python bench/optimizer.py   (a few seconds)

Profiles (oracle/optimize/data, provenance in its PROVENANCE.md): the real H200 MLP profile
(h200_mlp8x4096_profile.csv; NVML counter), the CPU profile measured here by `ecoai profile`
(cpu_digits_mlp_profile.csv; energy estimated, see its header) and the same model profiled on a lent H200
(h200_digits_mlp_profile.csv; NVML counter).
The simulator replays the profile with multiplicative log-normal measurement noise (cv 2 %, 5 %, 10 %).
"""

from __future__ import annotations

import statistics

from oracle.optimize.bandit import simulate
from oracle.optimize.pareto import Constraints, recommend
from oracle.optimize.profile import (
    CPU_DIGITS_PROFILE,
    H200_DIGITS_PROFILE,
    H200_PROFILE,
    load_profile,
)

PROFILES = [
    ("H200 MLP 8x4096 (measured with NVML)", H200_PROFILE, [0.25, 0.5]),
    ("CPU digits MLP (profiled here, estimated)", CPU_DIGITS_PROFILE, [1.0, 2.0, 5.0]),
    ("H200 digits MLP (profiled on the lent H200, NVML)",
     H200_DIGITS_PROFILE, [0.07, 0.1]),
]
SEEDS = range(21)


def main() -> int:
    for name, path, slos in PROFILES:
        rows = load_profile(path)
        budget = len(rows) // 4
        print(f"\n{name}: {len(rows)} configurations, trial budget 25 % = {budget}")
        for slo in slos:
            rec = recommend(rows, Constraints(latency_slo_ms=slo))
            print(f"  SLO {slo:g} ms: recommend {rec.row.label()} {rec.row.energy_j_per_item:.4g} J/item, "
                  f"saving {rec.saving.energy_pct:.1f} % vs default {rec.default.label()}; "
                  f"frontier {len(rec.frontier)} points")
            for strategy in ("cei", "thompson"):
                for cv in (0.02, 0.05, 0.10):
                    runs = [simulate(rows, slo, trials=len(rows), seed=s, noise_cv=cv, strategy=strategy)
                            for s in SEEDS]
                    needed = [r.trials_to_within if r.trials_to_within is not None else 10**6 for r in runs]
                    med = statistics.median(needed)
                    never = sum(n == 10**6 for n in needed)
                    regret = statistics.median(r.regret_j_per_item[budget - 1] for r in runs)
                    viol = statistics.median(r.slo_violations for r in runs)
                    verdict = "meets" if med <= budget else "misses"
                    med_s = f"{med:g}" if med < 10**6 else "never"
                    print(f"    {strategy:<8} noise {cv:>4.0%}: median trials to within 5 % = {med_s:>5} "
                          f"({verdict} <= {budget}); not converged in {len(rows)} trials: {never}/{len(runs)}; "
                          f"regret after {budget} trials {regret:.3g} J/item; SLO violations {viol:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
