"""The profiler on a real PyTorch model (digits MLP) with oracle.measure's CPU estimate as the energy source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the profiler needs the optional extra `profile` (torch)")

from oracle.app.cli import main  # noqa: E402
from oracle.optimize.profile import load_profile  # noqa: E402
from oracle.optimize.profiler import open_meter, profile_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class ConstantPowerMeter:
    """Test meter with a known power (joules = P × elapsed), to check the profiler's arithmetic exactly."""

    method = "test: constant 50 W"

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter

    def joules(self) -> float:
        return 50.0 * self._clock()


def test_profiler_arithmetic_with_a_known_power() -> None:
    torch.set_num_threads(1)
    res = profile_model(ConstantPowerMeter(), batches=(1, 16), precisions=("fp32", "int8"), seconds=0.1,
                        hidden=64, epochs=10)
    assert [(r.precision, r.batch) for r in res.rows] == [("fp32", 1), ("fp32", 16), ("int8", 1), ("int8", 16)]
    for r in res.rows:
        assert r.mean_power_w == pytest.approx(50.0, rel=0.02)
        assert r.energy_j_per_item == pytest.approx(r.mean_power_w / r.items_per_s, rel=0.02)
        assert r.latency_ms == pytest.approx(1000 * r.batch / r.items_per_s, rel=0.02)
    assert res.reference_accuracy > 0.85  # a real model trained on real held-out digits
    assert all(0.8 <= (r.quality or 0) <= 1.1 for r in res.rows)


def test_profile_cli_with_the_cpu_estimate_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cpu.csv"
    assert main(["profile", "--out", str(out), "--batches", "1,32", "--precisions", "fp32,bf16,int8",
                 "--seconds", "0.15", "--source", "cpu"]) == 0
    rows = load_profile(out)
    assert {r.precision for r in rows} == {"fp32", "bf16", "int8"}
    assert all(r.energy_j_per_item > 0 and r.power_limit_w is None for r in rows)
    assert "# energy method: estimated" in out.read_text()
    capsys.readouterr()
    assert main(["optimize", "--profile", str(out), "--json"]) == 0


def test_meter_rejects_unknown_source() -> None:
    from oracle.errors import UsageError

    with pytest.raises(UsageError):
        open_meter("psychic")


def test_package_imports_without_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "import oracle.optimize, oracle.optimize.cli, oracle.schedule, oracle.schedule.cli\n"
            "from oracle.app.cli import build_parser; build_parser()\n"
            "try:\n    import oracle.optimize.profiler\nexcept ImportError as e:\n    print('needs', e)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "needs the profiler needs PyTorch" in res.stdout
