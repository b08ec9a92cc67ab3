"""Energy-per-item regression on the real H200 profile: held-out (leave-one-out) error beats the mean baseline."""

from __future__ import annotations

from oracle.model.energy import fit, held_out_error, load_profiles
from oracle.paths import REPO_ROOT

PROFILE = REPO_ROOT.parent / "shared" / "data" / "h200_mlp_profile.csv"


def test_held_out_error_beats_baseline_and_predictions_follow_batch():
    rows = load_profiles([PROFILE])
    err = held_out_error(rows)
    print(f"energy model LOO: MAPE {err.mape_pct:.1f} % (max {err.max_ape_pct:.1f} %), "
          f"mean baseline {err.baseline_mape_pct:.1f} %, {err.rows} rows")
    assert err.rows == 12
    assert err.mape_pct < err.baseline_mape_pct / 4
    assert err.mape_pct < 50
    model = fit(rows)
    bf16 = sorted((r for r in rows if r.precision == "bf16"), key=lambda r: r.batch)
    predicted = model.predict(bf16)
    assert all(a > b for a, b in zip(predicted, predicted[1:]))  # bigger batches: less energy per item
