"""Arithmetic of every energy source without a GPU: counters (wrap, reset), power integration, gaps, replay."""

from __future__ import annotations

import csv
import time
from collections import namedtuple
from pathlib import Path

import pytest
from nvml_standin import NVML_ERROR_LIBRARY_NOT_FOUND, StandInGpu, StandInNvml, drive

from oracle.measure import Gap, Reading, SourceUnavailable, counter_delta, open_sources
from oracle.measure.cpu import CpuEstimateSource
from oracle.measure.epoch import aggregate
from oracle.measure.nvml import NvmlSource
from oracle.measure.rapl import RaplSource
from oracle.measure.replay import DEFAULT_TRACE, ReplaySource


def test_counter_delta_plain_wrap_reset_and_implausible():
    assert counter_delta(100, 350, None) == 250
    assert counter_delta(990, 10, 1000) == 20  # wrapped at the modulus
    assert counter_delta(500, 10, None) is None  # went backwards without a modulus: reset
    assert counter_delta(500, 10, 1000, max_delta=100) is None  # "wrap" of 510 is implausible: reset
    assert counter_delta(0, 10_000, None, max_delta=100) is None  # impossible jump


# --- NVML (library stand-in, real NvmlSource arithmetic) --------------------------------------------------
def test_nvml_counter_readings_are_exact_deltas_and_labelled():
    nv = StandInNvml([StandInGpu(counter_mj=[1_000, 1_000, 13_000, 26_500])])
    src = NvmlSource(nv)
    assert src.devices() == ["gpu0:NVIDIA H200"]
    items = drive(src, [10.0, 10.1, 10.2, 10.3])
    assert [(r.t_start, r.t_end, r.energy_mj) for r in items] == [(10.0, 10.1, 0.0), (10.1, 10.2, 12_000.0),
                                                                    (10.2, 10.3, 13_500.0)]
    assert all(r.kind == "measured" and r.label == "nvml/energy_counter" for r in items)
    assert items[2].power_w == pytest.approx(135.0)


def test_nvml_counter_wrap_at_64_bits_is_counted_and_reset_is_a_gap():
    top = 2**64 - 5_000
    nv = StandInGpu(counter_mj=[top, 7_000, 3_000, 9_000])  # wrap (+12 J), then reset (backwards)
    src = NvmlSource(StandInNvml([nv]))
    items = drive(src, [0.0, 0.1, 0.2, 0.3])
    assert isinstance(items[0], Reading) and items[0].energy_mj == 12_000
    assert isinstance(items[1], Gap) and "reset" in items[1].reason and (items[1].t_start, items[1].t_end) == (0.1, 0.2)
    assert isinstance(items[2], Reading) and items[2].energy_mj == 6_000  # continues from the new counter value


def test_nvml_power_integration_where_counter_unsupported():
    gpu = StandInGpu(supports_counter=False, power_mw=[100_000, 200_000, 200_000, 150_000])
    src = NvmlSource(StandInNvml([gpu]))
    items = drive(src, [0.0, 0.1, 0.2, 2.0])
    assert items[0].label == "nvml/power_integration" and items[0].kind == "measured"
    assert items[0].energy_mj == pytest.approx(15_000.0)  # (100 W + 200 W) / 2 x 0.1 s
    assert items[1].energy_mj == pytest.approx(20_000.0)
    assert isinstance(items[2], Gap) and "too far" in items[2].reason  # 1.8 s without a sample: not integrated


def test_gpu_disappearing_mid_run_gives_recorded_gaps_never_invented_readings():
    gpu = StandInGpu(counter_mj=[0, 10_000, None, None, 50_000, 60_000])
    src = NvmlSource(StandInNvml([gpu]))
    items = drive(src, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    readings = [i for i in items if isinstance(i, Reading)]
    gaps = [i for i in items if isinstance(i, Gap)]
    assert [(r.t_start, r.t_end, r.energy_mj) for r in readings] == [(0.0, 0.1, 10_000.0), (0.4, 0.5, 10_000.0)]
    assert [(g.t_start, g.t_end) for g in gaps] == [(0.1, 0.2), (0.2, 0.3), (0.3, 0.4)]
    assert "GPU not readable" in gaps[0].reason and "readable again" in gaps[-1].reason
    epoch = aggregate(readings, gaps, 0.0, 0.5, n=5)
    assert not epoch.complete and epoch.total_mj == 20_000  # the lost 0.3 s is reported, not filled
    assert epoch.intervals_mj == (10_000, 0, 0, 0, 10_000)
    assert epoch.gap_seconds == pytest.approx(0.3)


def test_nvml_without_library_is_unavailable_with_reason():
    with pytest.raises(SourceUnavailable, match="NVML unavailable"):
        NvmlSource(StandInNvml([StandInGpu()], init_error=NVML_ERROR_LIBRARY_NOT_FOUND))
    with pytest.raises(SourceUnavailable, match="no GPU"):
        NvmlSource(StandInNvml([]))


# --- RAPL on a real powercap-shaped folder ------------------------------------------------------------------
def _zone(root: Path, name: str, label: str, energy: int, max_range: int = 1_000_000) -> Path:
    d = root / name
    d.mkdir()
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def test_rapl_package_and_dram_wrap_and_missing_zone(tmp_path: Path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 990_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 5)  # inside the package counter: skipped
    dram = _zone(tmp_path, "intel-rapl:0:1", "dram", 100)
    src = RaplSource(tmp_path)
    assert src.devices() == ["rapl:intel-rapl:0:package-0", "rapl:intel-rapl:0:1:dram"]
    assert src.sample(1.0) == []
    (pkg / "energy_uj").write_text("20000\n")  # wrapped: 10_001 uJ to the top + 20_000
    (dram / "energy_uj").write_text("2100\n")
    items = src.sample(1.5)
    assert [(r.device, r.energy_mj) for r in items] == [("rapl:intel-rapl:0:package-0", pytest.approx(30.001)),
                                                         ("rapl:intel-rapl:0:1:dram", pytest.approx(2.0))]
    assert all(r.kind == "measured" and r.source == "rapl" for r in items)
    (dram / "energy_uj").unlink()
    items = src.sample(2.0)
    assert isinstance(items[1], Gap) and items[1].device.endswith("dram")


def test_rapl_unreadable_is_unavailable(tmp_path: Path):
    with pytest.raises(SourceUnavailable, match="RAPL not readable"):
        RaplSource(tmp_path)


# --- CPU estimate ------------------------------------------------------------------------------------------
Times = namedtuple("Times", "user nice system idle iowait")


def test_cpu_estimate_is_util_times_tdp_and_labelled_estimated():
    ticks = iter([Times(10, 0, 0, 90, 0), Times(25, 0, 5, 110, 0)])  # 20 busy of 40 -> 50 %
    src = CpuEstimateSource(model="Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz", cpu_times=lambda: next(ticks))
    assert src.tdp_w == 350 and src.method == "util_x_tdp"
    assert src.sample(0.0) == []
    (r,) = src.sample(2.0)
    assert r.kind == "estimated" and r.energy_mj == pytest.approx(350 * 0.5 * 2.0 * 1000)


def test_cpu_estimate_unknown_model_says_default_tdp():
    src = CpuEstimateSource(model="Imaginary CPU 9000")
    assert src.method == "util_x_default_tdp" and "not in cpu_tdp.csv" in src.tdp_source
    src.sample(time.time())
    time.sleep(0.05)
    (r,) = src.sample(time.time())
    assert r.label == "cpu/util_x_default_tdp" and 0 <= r.power_w <= 85.0 + 1e-9


# --- Replay of the real H200 trace ------------------------------------------------------------------------
def _trace_counter_span() -> float:
    with open(DEFAULT_TRACE, newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["energy_counter_mj"]) - float(rows[0]["energy_counter_mj"])


def test_replay_full_lap_equals_trace_counter_and_is_labelled_replayed():
    src = ReplaySource()
    items = drive(src, [1000.0 + 0.1 * k for k in range(0, int(src.lap_s * 10) + 2)])
    lap = [r for r in items if r.t_end <= 1000.0 + src.lap_s + 1e-9]
    assert sum(r.energy_mj for r in lap) == pytest.approx(_trace_counter_span(), abs=1.0)
    assert {r.kind for r in items} == {"replayed"} and {r.label for r in items} == {"replay/energy_counter"}
    # contiguous in wall time: no invented gap at the loop seam, no overlap
    for a, b in zip(items, items[1:]):
        assert b.t_start == pytest.approx(a.t_end, abs=1e-6)


def test_replay_offset_and_end_without_loop(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("unix_time_s,power_mw,energy_counter_mj\n0,100000,0\n1,100000,100000\n2,100000,300000\n")
    src = ReplaySource(path, offset_s=1.0, loop=False)
    items = drive(src, [50.0, 50.5, 51.0, 52.0])
    assert [round(r.energy_mj) for r in items if isinstance(r, Reading)] == [100_000, 100_000]
    assert isinstance(items[-1], Gap) and items[-1].reason == "replay trace ended"
    assert (items[-1].t_start, items[-1].t_end) == (51.0, 52.0)


@pytest.mark.parametrize("content, message", [
    (None, "cannot read trace"),
    ("a,b\n1,2\n", "needs columns"),
    ("unix_time_s,energy_counter_mj\n0,5\n", "fewer than two"),
    ("unix_time_s,energy_counter_mj\n0,5\n1,x\n", "non-numeric"),
    ("unix_time_s,energy_counter_mj\n0,5\n1,3\n", "goes backwards"),
])
def test_replay_bad_trace_is_unavailable(tmp_path: Path, content: str | None, message: str):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceUnavailable, match=message):
        ReplaySource(path)


def test_replay_in_real_time_follows_the_wall_clock():
    src = ReplaySource(offset_s=60.0)
    t0 = time.time()
    src.sample(t0)
    time.sleep(0.3)
    t1 = time.time()
    items = src.sample(t1)
    assert items[0].t_start == pytest.approx(t0) and items[-1].t_end == pytest.approx(t1)
    assert sum(r.t_end - r.t_start for r in items) == pytest.approx(t1 - t0)


def test_auto_sources_without_gpu_are_replay_plus_cpu_estimate():
    sources = open_sources(["auto"])
    assert [s.name for s in sources] == ["replay", "cpu"]
    with pytest.raises(SourceUnavailable, match="unknown source"):
        open_sources(["gpu"])


def test_nvml_short_boundary_tick_with_a_counter_step_is_a_reading_but_a_huge_jump_is_a_gap():
    # The counter moves in ~100 ms steps: a 5 ms interval may see a whole 70 J step (700 W x 0.1 s).
    gpu = StandInGpu(counter_mj=[0, 70_000, 10**10])
    src = NvmlSource(StandInNvml([gpu]))
    items = drive(src, [0.0, 0.005, 0.105])
    assert isinstance(items[0], Reading) and items[0].energy_mj == 70_000
    assert isinstance(items[1], Gap) and "implausible" in items[1].reason  # 10 MJ in 0.1 s on a 700 W GPU


def test_replay_readings_are_the_trace_energy_pro_rata_at_any_sampling_times():
    # Independent reference: integrate the trace's counter steps piecewise over each sampled span.
    with open(DEFAULT_TRACE, newline="") as f:
        rows = list(csv.DictReader(f))
    t = [float(r["unix_time_s"]) - float(rows[0]["unix_time_s"]) for r in rows]
    c = [float(r["energy_counter_mj"]) for r in rows]

    def trace_energy(a: float, b: float) -> float:
        return sum((c[i + 1] - c[i]) * max(0.0, min(b, t[i + 1]) - max(a, t[i])) / (t[i + 1] - t[i])
                   for i in range(len(t) - 1))

    src = ReplaySource(offset_s=3.0)
    times = [500.0, 500.04, 500.25, 500.26, 503.9, 504.0, 510.123]
    items = drive(src, times)
    assert [(r.t_start, r.t_end) for r in items] == list(zip(times, times[1:]))  # one reading per sample
    for r in items:
        assert r.energy_mj == pytest.approx(trace_energy(r.t_start - 497.0, r.t_end - 497.0), rel=1e-9)
        assert 0.0 <= r.context["util"] <= 1.0


def test_one_resolver_auto_without_gpu_and_spellings():
    from oracle.measure import check_source_spec

    auto = open_sources(["auto"])
    try:
        names = [s.name for s in auto]
        if names == ["nvml"]:  # a GPU answers: its counter is all "auto" means
            pytest.skip("this machine has NVML; the no-GPU meaning is what is tested here")
        # no GPU: the CPU side plus the replayed H200 trace standing in for it
        assert names[0] == "replay" and names[1] in ("rapl", "cpu") and len(names) == 2
    finally:
        for s in auto:
            s.close()
    live = open_sources(["auto"], replay_stand_in=False)  # what the profiler asks for: live work only
    try:
        assert [s.name for s in live] == names[1:]
    finally:
        for s in live:
            s.close()
    assert check_source_spec("replay:/x.csv") == "replay:/x.csv"
    for bad in ("psychic", "replay:", "NVML"):
        with pytest.raises(SourceUnavailable, match="choose from"):
            check_source_spec(bad)
