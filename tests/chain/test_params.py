"""v2 deploy parameters: efficiency classes, their validation, and the derivation that produces them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from oracle.chain.deploy import DEFAULT_PARAMS, load_params, override_admin
from oracle.errors import UsageError
from oracle.paths import REPO_ROOT

SEPOLIA_PARAMS = DEFAULT_PARAMS.with_name("sepolia_params.toml")
DEMO = "H200/encoder-bf16/item"
UJ_PER_KWH = 3_600_000_000_000  # design: 1 ECO = 1 kWh = 3.6e12 µJ saved


def _derive():
    spec = importlib.util.spec_from_file_location("derive_baselines", REPO_ROOT / "scripts" / "derive_baselines.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


derive = _derive()

GOOD_CLASS = """
[classes."H200/enc/item"]
hardware_class = "H200"
workload = "enc"
unit = "item"
quality_floor = "the encoder"
baseline_uj_per_unit = 1000
tiers_uj_per_unit = [100, 500]
min_work_per_epoch = 1
max_units_per_second = 10
require_measured = true
"""
GOOD = "epoch_length_s = 5\nmax_epoch_age_s = 60\n" + GOOD_CLASS + "\n[regions]\nKR = 431\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_default_params_describe_efficiency_classes():
    params = load_params()
    assert params.epoch_length_s == 5 and params.max_epoch_age_s == 3600 and params.admin is None
    assert set(params.classes) == {DEMO, "H200/mlp8x4096/item", "H100/llm-8b/token"}
    demo = params.classes[DEMO]
    assert (demo.hardware_class, demo.workload, demo.unit, demo.require_measured) == ("H200", "encoder-bf16",
                                                                                      "item", False)
    for c in params.classes.values():
        assert 1 <= len(c.tiers_uj_per_unit) <= 5
        assert list(c.tiers_uj_per_unit) == sorted(set(c.tiers_uj_per_unit))
        assert c.tiers_uj_per_unit[-1] < c.baseline_uj_per_unit < 2**32
        assert c.class_id == f"{c.hardware_class}/{c.workload}/{c.unit}"
        assert c.require_measured == (c.class_id != DEMO)
    args = demo.call_args()  # GreenProof.setEfficiencyClass argument order
    assert args[0] == DEMO.encode().ljust(32, b"\0") and args[4] == demo.quality_floor
    assert args[5:] == (demo.baseline_uj_per_unit, list(demo.tiers_uj_per_unit), 1, demo.max_units_per_second, False)
    recorded = params.to_dict()
    assert recorded["classes"][DEMO]["tiers_uj_per_unit"] == list(demo.tiers_uj_per_unit)
    assert recorded["regions_g_per_kwh"]["KR"] == 431 and recorded["admin"] is None


def test_sepolia_params_have_only_measured_production_classes():
    testnet, local = load_params(SEPOLIA_PARAMS), load_params()
    assert testnet.epoch_length_s == 3600
    assert DEMO not in testnet.classes and testnet.classes
    assert all(c.require_measured for c in testnet.classes.values())
    assert all(local.classes[cid] == c for cid, c in testnet.classes.items())
    assert testnet.regions == local.regions


def test_derive_baselines_prints_exactly_the_committed_params(capsys):
    assert derive.check(DEFAULT_PARAMS) == []
    assert derive.check(SEPOLIA_PARAMS) == []
    params = load_params()
    derived = derive.derive_all()
    assert {c.class_id for c in derived} == set(params.classes)
    for c in derived:
        got = params.classes[c.class_id]
        assert (got.baseline_uj_per_unit, got.tiers_uj_per_unit, got.max_units_per_second) == (
            c.baseline_uj_per_unit, c.tiers_uj_per_unit, c.max_units_per_second)
    assert derive.main([]) == 0
    out = capsys.readouterr().out
    for c in derived:
        assert derive.toml_block(c) in out
    assert "h200_inference_trace.csv" in out and "ml.energy" in out


def test_percentile_is_numpy_type_7():
    assert derive.percentile([1, 2, 3, 4], 50) == 2.5
    assert derive.percentile([10, 20, 30, 40, 50], 90) == 46
    assert derive.percentile([7], 10) == 7


def _credits_wei(c, tier: int, work: int, epoch_s: int) -> int:
    """The design's formula: (β − τ) · min(W, cap) · 10^18 / 3.6e12 ECO-wei (GreenProof computes the same)."""
    return (c.baseline_uj_per_unit - c.tiers_uj_per_unit[tier]) * min(work, c.max_units_per_second * epoch_s) \
        * 10**18 // UJ_PER_KWH


@pytest.mark.parametrize("phase_s", [0.0, 1.0, 2.5, 4.0])
def test_replayed_demo_trace_earns_in_most_serving_windows(phase_s: float):
    """The local demo: the shipped H200 trace replayed at 5-s epochs (64 intervals). Whatever the phase of the
    epochs against the trace, most serving windows meet a tier and earn credits; the cap never binds."""
    params = load_params()
    demo, epoch_s = params.classes[DEMO], params.epoch_length_s
    trace = derive.load_trace()
    windows = trace.windows(epoch_s, phase_s)
    serving = [(e, w) for _, e, w in windows if w > 0]
    earned = []
    for energy, work in serving:
        assert work <= demo.max_units_per_second * epoch_s  # the cap is above the trace's real rate
        tier = derive.tier_met(derive.efficiency_uj(energy, work), demo.tiers_uj_per_unit)
        if tier is not None:
            assert 1000 * energy <= demo.tiers_uj_per_unit[tier] * work  # what the circuit proves
            earned.append(_credits_wei(demo, tier, work, epoch_s))
    assert len(earned) > len(serving) / 2, f"{len(earned)} of {len(serving)} windows earn"
    assert all(c > 0 for c in earned)


def test_an_idle_window_earns_nothing():
    demo = load_params().classes[DEMO]
    assert derive.tier_met(float("inf"), demo.tiers_uj_per_unit) is None  # W = 0: no efficiency, no proof
    assert _credits_wei(demo, 0, 0, 5) == 0  # and were it submitted, W = 0 credits 0
    assert demo.min_work_per_epoch >= 1  # the contract refuses W below it (WorkBelowMinimum)


def _class_with(line_from: str, line_to: str) -> str:
    assert line_from in GOOD
    return GOOD.replace(line_from, line_to)


@pytest.mark.parametrize("text, field", [
    ("epoch_length_s = [", "not TOML"),
    (GOOD.replace("epoch_length_s = 5", "epoch_length_s = 0"), "epoch_length_s"),
    (GOOD.replace("max_epoch_age_s = 60", "max_epoch_age_s = -1"), "max_epoch_age_s"),
    ("epoch_length_s = 5\nmax_epoch_age_s = 1\n[regions]\nKR = 1", "classes"),
    ("epoch_length_s = 5\nmax_epoch_age_s = 1\n[hardware_classes.H200]\nbaseline_w = 700\ntiers_w = [200]\n"
     "[regions]\nKR = 1", "hardware_classes is the v1 format"),
    (_class_with("baseline_uj_per_unit = 1000", "baseline_uj_per_unit = 0"), 'enc/item".baseline_uj_per_unit'),
    (_class_with("baseline_uj_per_unit = 1000", "baseline_uj_per_unit = 4294967296"), "baseline_uj_per_unit"),
    (_class_with("tiers_uj_per_unit = [100, 500]", "tiers_uj_per_unit = [500, 100]"), "tiers_uj_per_unit"),
    (_class_with("tiers_uj_per_unit = [100, 500]", "tiers_uj_per_unit = [100, 1000]"), "below the baseline"),
    (_class_with("tiers_uj_per_unit = [100, 500]", "tiers_uj_per_unit = []"), "tiers_uj_per_unit"),
    (_class_with("tiers_uj_per_unit = [100, 500]", "tiers_uj_per_unit = [1, 2, 3, 4, 5, 6]"), "1 to 5 tiers"),
    (_class_with("tiers_uj_per_unit = [100, 500]", "tiers_uj_per_unit = [100, 500.5]"), "tiers_uj_per_unit"),
    (_class_with("min_work_per_epoch = 1", "min_work_per_epoch = 0"), "min_work_per_epoch"),
    (_class_with("min_work_per_epoch = 1", "min_work_per_epoch = 51"), "exceeds the cap"),
    (_class_with("max_units_per_second = 10", "max_units_per_second = 0"), "max_units_per_second"),
    (_class_with("require_measured = true", 'require_measured = "yes"'), "require_measured"),
    (_class_with('quality_floor = "the encoder"', 'quality_floor = " "'), "quality_floor"),
    (_class_with('unit = "item"', 'unit = "Item"'), "unit"),
    (_class_with('workload = "enc"', 'workload = "encoder"'), "id must be <hardware_class>/<workload>/<unit>"),
    (_class_with('hardware_class = "H200"', 'hardware_class = "' + "H" * 33 + '"'), "hardware_class"),
    (_class_with("require_measured = true", "require_measured = true\ntiers_uj = [1]"), "tiers_uj is not a class"),
    (_class_with("require_measured = true\n", ""), "require_measured is missing"),
    (GOOD.replace("KR = 431", "KR = 1.5"), "regions.KR"),
    (GOOD.replace("[regions]\nKR = 431", "[regions]"), "regions"),
    (GOOD + 'admin = "0x1234"\n', "admin"),
    ('admin = "0x' + "zz" * 20 + '"\n' + GOOD, "admin"),
    (GOOD.replace("epoch_length_s = 5", "epoch_length_s = 5\nepoch_lenght_s = 6"), "epoch_lenght_s"),
])
def test_bad_params_are_refused_with_one_error_naming_the_field(tmp_path: Path, text: str, field: str):
    with pytest.raises(UsageError, match="deploy params: .*" + _escape(field)):
        load_params(_write(tmp_path, text))


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_good_params_load_and_missing_file_is_refused(tmp_path: Path):
    params = load_params(_write(tmp_path, GOOD))
    assert params.classes["H200/enc/item"].tiers_uj_per_unit == (100, 500)
    with pytest.raises(UsageError, match="does not exist"):
        load_params(tmp_path / "missing.toml")


def test_admin_from_the_command_line_overrides_the_file_and_is_checked():
    params = load_params()
    admin = "0x" + "ab" * 20
    assert override_admin(params, admin).admin == admin
    assert override_admin(params, None) is params
    with pytest.raises(UsageError, match="--admin"):
        override_admin(params, "0xnope")
