"""Energy-per-item regression on the committed H200 profile, and `ecoai optimize --predict-batches` using it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.optimize.energy_model import fit, held_out_error, load_profiles
from oracle.optimize.profile import H200_PROFILE, format_profile, load_profile


def test_held_out_error_beats_baseline_and_predictions_follow_batch():
    rows = load_profiles([H200_PROFILE])  # the committed file, '#' provenance lines included
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


def test_optimize_predicts_a_batch_size_the_profile_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rows = load_profile(H200_PROFILE)
    without_64 = tmp_path / "no_b64.csv"
    without_64.write_text(format_profile([r for r in rows if r.batch != 64]))
    assert main(["optimize", "--profile", str(without_64), "--predict-batches", "8,64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    predicted = {(p["precision"], p["batch"]): p["energy_j_per_item"] for p in out["predicted"]["rows"]}
    assert set(predicted) == {("fp32", 64), ("bf16", 64), ("fp16", 64)}  # batch 8 is measured: not predicted
    measured = {r.precision: r.energy_j_per_item for r in rows if r.batch == 64}
    train = [r.energy_j_per_item for r in rows if r.batch != 64]
    geo_mean = math.exp(sum(math.log(e) for e in train) / len(train))
    for (precision, _), energy in predicted.items():
        # within a factor 2 of what the H200 measured, and closer than the profile's mean
        assert measured[precision] / 2 < energy < measured[precision] * 2
        assert abs(math.log(energy / measured[precision])) < abs(math.log(geo_mean / measured[precision]))
    assert out["recommendation"]["batch"] != 64  # predictions are never recommended
    assert main(["optimize", "--profile", str(without_64), "--predict-batches", "64"]) == 0
    assert "Predicted, not measured" in capsys.readouterr().out
