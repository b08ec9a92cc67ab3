#!/usr/bin/env python3
"""Check our NVML source on a real NVIDIA GPU under a PyTorch load; print JSON.

    PYTHONPATH=. python3 scripts/gpu_check.py [--seconds 5]

For each window (idle, steady bf16 matmul, bursty small batches) it reports, over the same [t_a, t_b):
- ours_j: what our NvmlSource + Sampler measured at 10 Hz, aggregated exactly as an epoch is;
- raw_counter_j: the NVML total-energy counter read directly at t_a and t_b;
- power_integration_j: nvmlDeviceGetPowerUsage polled every 10 ms, integrated with trapezoids;
plus the device name, driver and power limit. Without a GPU (or without torch/CUDA) it prints one line and
exits 1. Imports only stdlib, pynvml, numpy, psutil and torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.measure.epoch import aggregate  # noqa: E402
from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable  # noqa: E402
from oracle.measure.sampler import Sampler  # noqa: E402


def fail(message: str) -> None:
    print(f"gpu_check: {message}", file=sys.stderr)
    raise SystemExit(1)


class PowerPoller:
    """nvmlDeviceGetPowerUsage every `period_s` in a thread: the power-integration reference."""

    def __init__(self, read_mw: Callable[[], int], period_s: float = 0.01) -> None:
        self.read_mw, self.period_s = read_mw, period_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), float(self.read_mw())))
            self._stop.wait(self.period_s)

    def __enter__(self) -> PowerPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def energy_j(self, ta: float, tb: float) -> float:
        """Trapezoids of the polled power, linearly interpolated at the window edges ta and tb."""
        total = 0.0
        for (t0, p0), (t1, p1) in zip(self.samples, self.samples[1:]):
            a, b = max(t0, ta), min(t1, tb)
            if b <= a or t1 <= t0:
                continue
            pa = p0 + (p1 - p0) * (a - t0) / (t1 - t0)
            pb = p0 + (p1 - p0) * (b - t0) / (t1 - t0)
            total += (b - a) * (pa + pb) / 2.0
        return total / 1000.0


def workloads(device: str) -> list[tuple[str, Callable[[float], int]]]:
    import torch as t

    def idle(seconds: float) -> int:
        time.sleep(seconds)
        return 0

    def steady(seconds: float) -> int:
        a = t.randn(8192, 8192, device=device, dtype=t.bfloat16)
        b = t.randn(8192, 8192, device=device, dtype=t.bfloat16)
        end, n = time.time() + seconds, 0
        while time.time() < end:
            for _ in range(8):
                a @ b
            t.cuda.synchronize()
            n += 8
        return n

    def bursty(seconds: float) -> int:
        layers = t.nn.Sequential(*[t.nn.Linear(4096, 4096) for _ in range(8)]).to(device).half()
        end, n, k = time.time() + seconds, 0, 0
        with t.inference_mode():
            while time.time() < end:
                batch = (1, 32, 4, 256)[k % 4]
                x = t.randn(batch, 4096, device=device, dtype=t.float16)
                for _ in range(20):
                    layers(x)
                t.cuda.synchronize()
                n += 20 * batch
                time.sleep((0.15, 0.02, 0.08, 0.01)[k % 4])
                k += 1
        return n

    return [("idle", idle), ("steady_bf16_matmul_8192", steady), ("bursty_fp16_mlp", bursty)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="NVML source vs raw counter vs power integration on a GPU")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each window (5)")
    args = parser.parse_args(argv)
    try:
        from oracle.measure.nvml import NvmlSource

        source = NvmlSource(indices=[0])
    except SourceUnavailable as exc:
        fail(f"no NVIDIA GPU to check: {exc}")
    try:
        import torch
    except ImportError as exc:
        fail(f"PyTorch is needed for the GPU load ({exc})")
    if not torch.cuda.is_available():
        fail("PyTorch sees no CUDA device")
    info = source.info()[0]
    result: dict[str, object] = {
        "device": info["name"], "driver": info["driver"], "power_limit_w": info["power_limit_w"],
        "nvml_method": info["method"], "torch": torch.__version__, "sample_hz": 10, "windows": [],
    }
    collected: list[Item] = []
    sampler = Sampler([source], sinks=[lambda items, now: collected.extend(items)], interval_s=0.1,
                      flush_interval_s=0.1)
    for name, work in workloads("cuda:0"):
        collected.clear()
        thread = sampler.start_background()
        with PowerPoller(lambda: source.read_power_mw(0)) as poller:
            time.sleep(0.5)  # sampler primed, poller running
            ta, c0 = time.time(), source.read_counter_mj(0)
            items = work(args.seconds)
            tb, c1 = time.time(), source.read_counter_mj(0)
            time.sleep(0.3)  # let the sampler tick past t_b
        sampler.stop()
        thread.join()
        readings = [r for r in collected if isinstance(r, Reading)]
        gaps = [g for g in collected if isinstance(g, Gap)]
        ours = aggregate(readings, gaps, ta, tb, n=1)
        raw_j = (c1 - c0) / 1000.0
        ours_j = ours.total_mj / 1000.0
        integ_j = poller.energy_j(ta, tb)
        result["windows"].append({  # type: ignore[union-attr]
            "name": name, "seconds": round(tb - ta, 3), "items": items,
            "ours_j": round(ours_j, 3), "raw_counter_j": round(raw_j, 3), "power_integration_j": round(integ_j, 3),
            "ours_vs_counter_pct": round(100.0 * (ours_j - raw_j) / raw_j, 3) if raw_j else None,
            "integration_vs_counter_pct": round(100.0 * (integ_j - raw_j) / raw_j, 3) if raw_j else None,
            "mean_power_w": round(raw_j / (tb - ta), 2), "ours_methods": ours.by_method,
            "ours_gaps": len(ours.gaps), "power_samples": len(poller.samples),
        })
    source.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
