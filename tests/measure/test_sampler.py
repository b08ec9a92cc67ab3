"""The sampler loop in real time, in the background, with a failing adapter; gpu_check without a GPU."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from oracle.measure import Gap, Reading, Sampler
from oracle.measure.epoch import aggregate
from oracle.measure.replay import ReplaySource
from oracle.paths import REPO_ROOT


class BrokenSource:
    """An adapter that fails after priming (e.g. a driver error)."""

    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def devices(self) -> list[str]:
        return ["broken:0"]

    def sample(self, now: float) -> list:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("driver went away")
        return []

    def close(self) -> None:
        pass


def test_realtime_run_until_covers_the_window_to_its_end():
    got: list = []
    sampler = Sampler([ReplaySource()], sinks=[lambda items, now: got.extend(items)], flush_interval_s=0.2)
    t0 = time.time()
    sampler.run_until(t0 + 0.05)  # prime
    t1 = t0 + 0.6
    ticks = sampler.run_until(t1)
    assert 4 <= ticks <= 9 and sampler.last_sample_time >= t1
    readings = [r for r in got if isinstance(r, Reading)]
    e = aggregate(readings, [], t0 + 0.1, t1, n=64)
    assert e.complete and e.by_kind == {"replayed": e.total_mj}


def test_background_sampler_stops_on_request_and_failing_source_becomes_gaps():
    got: list = []
    sampler = Sampler([ReplaySource(), BrokenSource()], sinks=[lambda items, now: got.extend(items)],
                      interval_s=0.05, flush_interval_s=0.05)
    thread = sampler.start_background()
    time.sleep(0.4)
    sampler.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    gaps = [g for g in got if isinstance(g, Gap)]
    assert gaps and all(g.device == "broken:0" and "driver went away" in g.reason for g in gaps)
    assert any(isinstance(r, Reading) and r.kind == "replayed" for r in got)  # the other source kept going


def test_virtual_clock_needs_a_start():
    with pytest.raises(ValueError, match="virtual clock"):
        Sampler([ReplaySource()]).run_until(10.0, realtime=False)


def test_gpu_check_without_gpu_prints_one_line_and_exits_nonzero():
    out = subprocess.run([sys.executable, "scripts/gpu_check.py"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("gpu_check: no NVIDIA GPU")


def test_stop_right_after_start_is_not_lost():
    sampler = Sampler([ReplaySource()])
    thread = sampler.start_background()
    sampler.stop()
    thread.join(timeout=2)
    assert not thread.is_alive()
