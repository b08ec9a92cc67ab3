"""The NVML source against a real NVIDIA GPU (runs on the GPU machine; skips elsewhere with the reason).

Run there: python3 -m pytest tests/measure/test_nvml_gpu.py -p no:cacheprovider
"""

from __future__ import annotations

import time

import pytest

from oracle.measure.epoch import aggregate
from oracle.measure.reading import Gap, Reading, SourceUnavailable
from oracle.measure.sampler import Sampler

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def nvml_source():
    try:
        from oracle.measure.nvml import NvmlSource

        source = NvmlSource(indices=[0])
    except SourceUnavailable as exc:
        pytest.skip(f"needs an NVIDIA GPU with NVML: {exc}")
    yield source
    source.close()


def _load(seconds: float) -> None:
    try:
        import torch
    except ImportError:
        time.sleep(seconds)  # idle still draws power: the counter must still advance
        return
    if not torch.cuda.is_available():
        time.sleep(seconds)
        return
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(4):
            a @ a
        torch.cuda.synchronize()


def test_nvml_readings_match_the_raw_counter(nvml_source):
    info = nvml_source.info()[0]
    collected: list = []
    sampler = Sampler([nvml_source], sinks=[lambda items, now: collected.extend(items)], interval_s=0.1,
                      flush_interval_s=0.1)
    thread = sampler.start_background()
    time.sleep(0.4)
    ta, c0 = time.time(), nvml_source.read_counter_mj(0)
    _load(3.0)
    tb, c1 = time.time(), nvml_source.read_counter_mj(0)
    time.sleep(0.3)
    sampler.stop()
    thread.join()
    readings = [r for r in collected if isinstance(r, Reading)]
    gaps = [g for g in collected if isinstance(g, Gap)]
    assert readings and not gaps, gaps
    assert {r.kind for r in readings} == {"measured"}
    assert {r.label for r in readings} <= {"nvml/energy_counter", "nvml/power_integration"}
    epoch = aggregate(readings, gaps, ta, tb, n=64)
    assert epoch.complete
    raw_j, ours_j = (c1 - c0) / 1000.0, epoch.total_mj / 1000.0
    mean_w = raw_j / (tb - ta)
    limit = info["power_limit_w"] or 2000
    assert 5 < mean_w < limit * 1.2, mean_w
    # ours is the same counter, pro-rated at window edges: within 10 % over 3 s (one 100 ms update each side)
    assert ours_j == pytest.approx(raw_j, rel=0.10), (ours_j, raw_j)
    assert all(0 <= r.power_w < limit * 2 for r in readings)
