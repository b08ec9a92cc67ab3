"""Device check (run on a machine with an NVIDIA GPU; not collected by pytest): the oracle node's measurement
path on live NVML readings.

The node's StoreMeter (sources "auto": NVML first) samples while PyTorch loads the GPU in three phases (idle,
full bf16 matrix products, a 50 % duty cycle), one per epoch; each epoch is closed exactly as the node closes it
(64 integer-mJ intervals, gaps, method labels) and given the tier it would prove against the default H200
parameters. Prints one JSON line per epoch and a final summary line.

    python3 scripts/gpu_epochs_check.py [EPOCH_SECONDS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ECOAI_HOME", tempfile.mkdtemp(prefix="ecoai-gpu-"))

from oracle.node.measuring import StoreMeter  # noqa: E402
from oracle.conventions import epoch_bounds, epoch_of  # noqa: E402
from oracle.measure.counters import interval_boundaries  # noqa: E402
from oracle.measure.work import WorkCounter  # noqa: E402
from oracle.node.tiers import pick_tier, unmeasured_intervals  # noqa: E402


def main() -> int:
    import torch

    epoch_s = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    params = tomllib.loads((Path(__file__).resolve().parents[1] / "oracle/chain/default_params.toml").read_text())
    h200 = params["classes"]["H200/mlp8x4096/item"]
    tiers = h200["tiers_uj_per_unit"]  # µJ per item (v2 efficiency tiers)
    phase = {"duty": 0.0}
    stop = threading.Event()

    def load() -> None:
        a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        while not stop.is_set():
            duty = phase["duty"]
            if duty <= 0:
                time.sleep(0.05)
                continue
            started = time.perf_counter()
            for _ in range(4):
                a @ b
            torch.cuda.synchronize()
            counter.add(4 * 8192)  # rows served: the useful work, through the local work API
            busy = time.perf_counter() - started
            if duty < 1:
                time.sleep(busy * (1 - duty) / duty)

    meter = StoreMeter(["auto"], 10.0, work_sources=["work:gpu@item"], boundaries=interval_boundaries(epoch_s))
    counter = WorkCounter("gpu", "item", store=meter.store)
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    meter.start()
    results = []
    try:
        first = epoch_of(time.time(), epoch_s) + 1
        for k, duty in enumerate((0.0, 1.0, 0.5)):
            epoch = first + k
            start, end = epoch_bounds(epoch, epoch_s)
            while time.time() < start:
                time.sleep(0.01)
            phase["duty"] = duty
            while not (time.time() >= end and meter.ready(end, time.time())):
                time.sleep(0.02)
            energy = meter.epoch_energy(epoch, start, end)
            gaps = unmeasured_intervals(energy)
            total = sum(energy.intervals_mj)
            work = energy.work_total
            tier = None if gaps or not energy.work_complete else pick_tier(total, work, tiers)
            row = {
                "epoch": epoch,
                "gpu_duty": duty,
                "total_mj": total,
                "mean_power_w": total / 1000 / epoch_s,
                "max_interval_mj": max(energy.intervals_mj),
                "gap_intervals": len(gaps),
                "energy_by_method_mj": energy.by_method,
                "energy_by_kind_mj": energy.by_kind,
                "work_items": work,
                "energy_per_item_uj": None if not work else 1000 * total / work,
                "tier": tier,
                "efficiency_uj_per_unit": None if tier is None else tiers[tier],
                "outcome": "incomplete" if gaps or not energy.work_complete else (
                    "zero_work" if work == 0 else "over_budget" if tier is None else "provable"),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        stop.set()
        meter.stop()
        worker.join(timeout=10)
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0),
                "epoch_s": epoch_s,
                "tiers_uj_per_item": tiers,
                "sources": [s.name for s in meter.sources],
                "devices": meter.devices,
                "all_complete": all(r["gap_intervals"] == 0 for r in results),
                "all_below_2_32": all(r["max_interval_mj"] < 2**32 for r in results),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
