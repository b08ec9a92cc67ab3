"""Energy-per-item regression from measured profiles, with held-out error.

Profiles use the optimizer's CSV format (gpu, workload, precision, batch, power_limit_w, items_per_s,
latency_ms, energy_j_per_item, mean_power_w, quality). The model predicts log(energy per item) from
GPU model and precision (one-hot), log2(batch), log(request rate = items_per_s) and power limit, with ridge
regression (scikit-learn). Held-out error is leave-one-out: each row predicted by a model fitted without it,
reported as mean and max absolute percentage error next to a baseline that predicts the training mean.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PRECISION_BITS = {"fp32": 32, "tf32": 19, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4}


@dataclass(frozen=True)
class Profile:
    gpu: str
    workload: str
    precision: str
    batch: int
    power_limit_w: float
    items_per_s: float
    energy_j_per_item: float


def load_profiles(paths: Sequence[Path]) -> list[Profile]:
    rows: list[Profile] = []
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows.append(Profile(r["gpu"], r["workload"], r["precision"].lower(), int(r["batch"]),
                                    float(r["power_limit_w"]), float(r["items_per_s"]), float(r["energy_j_per_item"])))
    if not rows:
        raise ValueError("no profile rows")
    return rows


@dataclass
class EnergyModel:
    gpus: list[str]
    precisions: list[str]
    pipeline: object

    def features(self, rows: Sequence[Profile]) -> np.ndarray:
        out = []
        for p in rows:
            row = [1.0 if p.gpu == g else 0.0 for g in self.gpus]
            row += [1.0 if p.precision == q else 0.0 for q in self.precisions]
            row += [math.log2(p.batch), math.log(p.items_per_s), p.power_limit_w / 100.0,
                    math.log2(PRECISION_BITS.get(p.precision, 16))]
            out.append(row)
        return np.array(out)

    def predict(self, rows: Sequence[Profile]) -> np.ndarray:
        """Predicted energy per item, joules."""
        return np.exp(self.pipeline.predict(self.features(rows)))  # type: ignore[attr-defined]


def fit(rows: Sequence[Profile], alpha: float = 0.1) -> EnergyModel:
    model = EnergyModel(sorted({p.gpu for p in rows}), sorted({p.precision for p in rows}),
                        make_pipeline(StandardScaler(), Ridge(alpha=alpha)))
    y = np.log([p.energy_j_per_item for p in rows])
    model.pipeline.fit(model.features(rows), y)  # type: ignore[attr-defined]
    return model


@dataclass(frozen=True)
class HeldOutError:
    rows: int
    mape_pct: float  # leave-one-out mean absolute percentage error of the model
    max_ape_pct: float
    baseline_mape_pct: float  # same, predicting the geometric mean of the training rows


def held_out_error(rows: Sequence[Profile], alpha: float = 0.1) -> HeldOutError:
    errors, baseline = [], []
    for i, held in enumerate(rows):
        train = [p for j, p in enumerate(rows) if j != i]
        predicted = float(fit(train, alpha).predict([held])[0])
        mean = math.exp(sum(math.log(p.energy_j_per_item) for p in train) / len(train))
        errors.append(abs(predicted - held.energy_j_per_item) / held.energy_j_per_item * 100.0)
        baseline.append(abs(mean - held.energy_j_per_item) / held.energy_j_per_item * 100.0)
    return HeldOutError(len(rows), float(np.mean(errors)), float(np.max(errors)), float(np.mean(baseline)))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m oracle.model.energy PROFILE.csv [...]`: fit and print the held-out error as JSON."""
    import argparse
    import json
    from dataclasses import asdict

    parser = argparse.ArgumentParser(prog="python -m oracle.model.energy", description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        rows = load_profiles(args.profiles)
    except (OSError, KeyError, ValueError) as exc:
        print(f"energy model: error: cannot read profiles: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"held_out": asdict(held_out_error(rows)), "features": [
        "gpu one-hot", "precision one-hot", "log2 batch", "log request rate (items/s)", "power limit",
        "log2 precision bits"], "target": "log energy per item (J)"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
