"""Energy-per-item regression from measured profiles: predicts configurations a profile did not measure.

The model predicts log(energy per item) from GPU model and precision (one-hot), log2(batch), power limit and
log2(precision bits) with ridge regression (scikit-learn): only knobs known before a configuration is run, so
`ecoai optimize --predict-batches` can estimate batch sizes the profile lacks. Held-out error is
leave-one-out: each row predicted by a model fitted without it, reported as mean and max absolute percentage
error next to a baseline that predicts the geometric mean of the training rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from oracle.optimize.profile import PRECISION_BITS, ProfileRow, load_profile


def load_profiles(paths: Sequence[Path]) -> list[ProfileRow]:
    """The rows of several profile CSVs (oracle.optimize.profile's format and checks)."""
    return [row for path in paths for row in load_profile(path)]


@dataclass
class EnergyModel:
    gpus: list[str]
    precisions: list[str]
    pipeline: object

    def features(self, rows: Sequence[ProfileRow]) -> np.ndarray:
        out = []
        for p in rows:
            row = [1.0 if p.gpu == g else 0.0 for g in self.gpus]
            row += [1.0 if p.precision == q else 0.0 for q in self.precisions]
            row += [math.log2(p.batch), (p.power_limit_w or 0.0) / 100.0,
                    math.log2(PRECISION_BITS.get(p.precision, 16))]
            out.append(row)
        return np.array(out)

    def predict(self, rows: Sequence[ProfileRow]) -> np.ndarray:
        """Predicted energy per item, joules (only the configuration knobs of `rows` are read)."""
        return np.exp(self.pipeline.predict(self.features(rows)))  # type: ignore[attr-defined]


def fit(rows: Sequence[ProfileRow], alpha: float = 0.1) -> EnergyModel:
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


def held_out_error(rows: Sequence[ProfileRow], alpha: float = 0.1) -> HeldOutError:
    errors, baseline = [], []
    for i, held in enumerate(rows):
        train = [p for j, p in enumerate(rows) if j != i]
        predicted = float(fit(train, alpha).predict([held])[0])
        mean = math.exp(sum(math.log(p.energy_j_per_item) for p in train) / len(train))
        errors.append(abs(predicted - held.energy_j_per_item) / held.energy_j_per_item * 100.0)
        baseline.append(abs(mean - held.energy_j_per_item) / held.energy_j_per_item * 100.0)
    return HeldOutError(len(rows), float(np.mean(errors)), float(np.max(errors)), float(np.mean(baseline)))
