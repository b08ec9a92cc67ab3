"""SQLite store (WAL, on disk) and epoch aggregation into the circuit's 64 integer-mJ intervals."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.measure import Gap, Reading, Sampler
from oracle.conventions import N_INTERVALS
from oracle.measure.epoch import aggregate
from oracle.measure.replay import ReplaySource
from oracle.paths import REPO_ROOT
from oracle.measure.store import Store


def _r(a: float, b: float, mj: float, device: str = "gpu0:X", kind: str = "measured") -> Reading:
    return Reading(a, b, device, "nvml", "energy_counter", kind, mj)


def test_aggregate_prorates_rounds_on_running_total_and_preserves_sum():
    readings = [_r(0.0, 1.5, 1_000.0), _r(1.5, 4.0, 333.0), _r(-1.0, 0.0, 50.0)]  # last one is outside
    e = aggregate(readings, [], 0.0, 4.0, n=4)
    # exact shares 666.67, 399.93, 133.2, 133.2: rounding the running total keeps the sum exact
    assert e.intervals_mj == (667, 400, 133, 133) and e.total_mj == 1_333 == sum(e.intervals_mj)
    assert e.complete and e.by_kind == {"measured": 1_333} and e.by_method == {"nvml/energy_counter": 1_333}


def test_aggregate_reports_holes_and_recorded_gaps_without_filling():
    readings = [_r(0.0, 1.0, 100.0), _r(3.0, 4.0, 100.0)]
    gaps = [Gap(1.0, 2.0, "gpu0:X", "nvml", "GPU not readable: lost")]
    e = aggregate(readings, gaps, 0.0, 4.0, n=4, devices=["gpu0:X", "cpu:Y"])
    assert e.intervals_mj == (100, 0, 0, 100) and not e.complete
    assert [(g.device, g.t_start, g.t_end, g.reason) for g in e.gaps] == [
        ("cpu:Y", 0.0, 4.0, "no reading"), ("gpu0:X", 1.0, 2.0, "GPU not readable: lost"),
        ("gpu0:X", 2.0, 3.0, "no reading")]


def test_store_is_wal_durable_and_record_epoch_is_recorded_once(tmp_path: Path):
    path = tmp_path / "m.sqlite"
    with Store(path) as store:
        store.append([_r(0.0, 2.0, 2_000.0), _r(2.0, 4.0, 6_000.0, kind="replayed")])
        first = store.record_epoch(7, 0.0, 4.0)
        store.append([_r(1.0, 3.0, 99_999.0)])  # late reading: the recorded epoch does not change
        assert store.record_epoch(7, 0.0, 4.0) == first
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(path) as store:  # reopened from disk
        e = store.epoch(7)
        assert e is not None and len(e.intervals_mj) == N_INTERVALS and e.total_mj == 8_000
        assert e.by_kind == {"measured": 2_000, "replayed": 6_000}
        assert [x.epoch for x in store.epochs()] == [7] and store.epochs(8) == []
        assert store.aggregate(0.0, 4.0).total_mj == 8_000 + 99_999


def test_sampler_replay_into_store_gives_64_intervals_of_a_5s_epoch(tmp_path: Path):
    with Store(tmp_path / "m.sqlite") as store:
        src = ReplaySource(offset_s=40.0)
        sampler = Sampler([src], sinks=[store.sink])
        t0 = 1_800_000_000.0
        sampler.run(5.0, realtime=False, start=t0)
        sampler.run_until(t0 + 10.0, realtime=False)
        e1 = store.record_epoch(1, t0, t0 + 5.0, devices=src.devices())
        e2 = store.record_epoch(2, t0 + 5.0, t0 + 10.0, devices=src.devices())
        assert e1.complete and e2.complete and len(e1.intervals_mj) == 64
        assert all(0 < x < 2**32 for x in e1.intervals_mj)
        assert e1.by_kind == {"replayed": e1.total_mj}
        # 10 s of the trace at ~115-155 W
        assert 1_000_000 < e1.total_mj + e2.total_mj < 1_600_000
        total = sum(r.energy_mj for r in store.readings(t0, t0 + 10.0))
        assert e1.total_mj + e2.total_mj == pytest.approx(total, abs=1)
        # the sampler was not running before t0: that span is a hole, not zero energy presented as complete
        before = store.aggregate(t0 - 1.0, t0 + 1.0, devices=src.devices())
        assert not before.complete and before.gaps[0].t_end == pytest.approx(t0)


def _rows_on_disk(path: Path) -> int:
    """Readings another connection (another process) sees: committed ones only."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM readings").fetchone()[0]
    finally:
        db.close()


def test_sink_commits_once_a_second_reads_see_everything_and_a_run_ends_durable(tmp_path: Path):
    path = tmp_path / "m.sqlite"
    store = Store(path)
    t0 = 1_800_000_000.0
    store.sink([_r(t0, t0 + 0.1, 10.0)], t0 + 0.1)
    store.sink([_r(t0 + 0.1, t0 + 0.2, 10.0)], t0 + 0.2)
    assert _rows_on_disk(path) == 0  # batched in memory (cheap per tick)...
    store.sink([_r(t0 + 0.2, t0 + 1.2, 10.0)], t0 + 1.2)
    assert _rows_on_disk(path) == 3  # ...committed once a second of samples has passed
    store.sink([_r(t0 + 1.2, t0 + 1.3, 10.0, kind="estimated")], t0 + 1.3)
    assert _rows_on_disk(path) == 3
    # Reading through the store commits first: nothing in this process acts on uncommitted readings.
    assert len(store.readings(t0, t0 + 2.0)) == 4 and _rows_on_disk(path) == 4
    # A sampler run ends with its sinks flushed: on disk without closing the store.
    sampler = Sampler([ReplaySource()], sinks=[store.sink])
    sampler.run(0.35, realtime=False, start=t0 + 10.0)
    assert _rows_on_disk(path) == 4 + 4
    e = store.record_epoch(1, t0 + 10.0, t0 + 10.35, devices=["replay:h200_inference_trace"])
    assert e.complete and e.total_mj == round(sum(r.energy_mj for r in store.readings(t0 + 10.0, t0 + 10.35)))
    store.close()


def test_killed_process_loses_at_most_the_uncommitted_second_as_a_gap(tmp_path: Path):
    path = tmp_path / "m.sqlite"
    script = f"""
import os, sys
sys.path.insert(0, {str(REPO_ROOT)!r})
from oracle.measure import Reading
from oracle.paths import REPO_ROOT
from oracle.measure.store import Store
store = Store({str(path)!r})
for k in range(25):  # 2.5 s of 10 Hz ticks, then killed without any flush
    store.sink([Reading(k / 10, (k + 1) / 10, "cpu:X", "cpu", "util_x_tdp", "estimated", 100.0)], (k + 1) / 10)
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    with Store(path) as store:
        kept = store.readings(0.0, 10.0)
        assert 10 <= len(kept) <= 25 and max(r.t_end for r in kept) >= 1.0  # at most the last second is lost
        assert [r.t_start for r in kept] == pytest.approx([k / 10 for k in range(len(kept))])  # a prefix
        e = store.aggregate(0.0, 2.5, n=5, devices=["cpu:X"])
        lost = 2.5 - len(kept) / 10
        assert e.total_mj == 100 * len(kept) and not e.complete  # nothing invented for the lost span
        assert e.gap_seconds == pytest.approx(lost) and e.gaps[-1].reason == "no reading"
