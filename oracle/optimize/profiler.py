"""Profiler: run a real PyTorch model under each configuration and measure it into profile rows.

The model is a small MLP trained at setup on scikit-learn's bundled handwritten-digits data set (no
download). Configurations: precision fp32 / bf16 / int8 (dynamic quantization of the Linear layers, CPU
only) × batch sizes. For each configuration the profiler measures, over a fixed window of repeated batch
calls: latency per call, throughput, energy (from an energy meter: oracle.measure's sources), mean power,
and quality = held-out accuracy / fp32 held-out accuracy.

Energy comes only from a meter; the meter's method label (measured / estimated, which source) is written
into the CSV's provenance comments. This module needs PyTorch (extra `profile`).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the profiler needs PyTorch: pip install 'ecoai[profile]'") from exc

from oracle.errors import UsageError
from oracle.measure import EnergySource, Gap, Reading, SourceUnavailable, check_source_spec, open_sources
from oracle.measure.cpu import process_cpu_times
from oracle.optimize.profile import ProfileRow, write_profile

PRECISIONS = ("fp32", "bf16", "int8")


class EnergyMeter(Protocol):
    """A cumulative energy reading in joules, and how it is obtained ('measured: RAPL', 'estimated: ...')."""

    method: str

    def joules(self) -> float: ...


# How each oracle.measure source obtains its joules, for the profile's "# energy method:" line.
_METHODS = {
    "nvml": "measured: NVML total-energy counter via oracle.measure.nvml",
    "rapl": "measured: RAPL powercap counters via oracle.measure.rapl",
}


class SourceMeter:
    """Cumulative joules from oracle.measure sources (summing their devices' readings). A gap raises: the
    profiler never fills one."""

    def __init__(self, sources: Sequence[EnergySource]) -> None:
        self.sources = list(sources)
        self.method = "; ".join(_method(s) for s in self.sources)
        self._joules = 0.0
        for source in self.sources:
            source.sample(time.time())  # the first call only primes the source

    def joules(self) -> float:
        now = time.time()
        for source in self.sources:
            for item in source.sample(now):
                if isinstance(item, Gap):
                    raise RuntimeError(f"energy gap on {item.device}: {item.reason}")
                if isinstance(item, Reading):
                    self._joules += item.energy_mj / 1000.0
        return self._joules


def _method(source: EnergySource) -> str:
    if source.name == "cpu":
        cpu: Any = source
        return (f"estimated: CPU utilisation of this process x TDP ({cpu.method}, {cpu.tdp_w:g} W, "
                f"{cpu.tdp_source}) via oracle.measure.cpu")
    return _METHODS[source.name]


def open_meter(spec: str = "auto") -> SourceMeter:
    """`auto` | `nvml` | `rapl` | `cpu` as a profiler meter, through oracle.measure's resolver ("auto" without
    the replayed stand-in: a profile measures live work only). The CPU estimate counts this process only."""
    try:
        if check_source_spec(spec).startswith("replay"):
            raise SourceUnavailable("a replayed trace cannot measure the profiled model")
        return SourceMeter(open_sources([spec], replay_stand_in=False, cpu_times=process_cpu_times()))
    except SourceUnavailable as exc:
        raise UsageError(f"energy source {spec!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class DigitsTask:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_task(seed: int = 0) -> DigitsTask:
    """scikit-learn's 8×8 digits (1,797 images, ships with the package), scaled, 70/30 stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    return DigitsTask(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(),
                      torch.from_numpy(x_te), torch.from_numpy(y_te).long())


def build_mlp(hidden: int = 512, layers: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = 64
    for _ in range(layers - 1):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, 10))
    return nn.Sequential(*mods)


def train(model: nn.Module, task: DigitsTask, epochs: int = 15, seed: int = 0) -> nn.Module:
    """Adam, mini-batches of 64; a few seconds on one CPU core."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(task.x_train)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss_fn(model(task.x_train[idx]), task.y_train[idx]).backward()
            opt.step()
    model.eval()
    return model


def convert(model: nn.Module, precision: str, device: str) -> tuple[nn.Module, torch.dtype]:
    """A copy of the fp32 model in the given precision, and the input dtype it takes."""
    if precision == "fp32":
        return copy.deepcopy(model).to(device), torch.float32
    if precision == "bf16":
        return copy.deepcopy(model).to(device=device, dtype=torch.bfloat16), torch.bfloat16
    if precision == "int8":
        if device != "cpu":
            raise UsageError("int8 dynamic quantization runs on CPU only")
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch.ao deprecation notices; the API still works in 2.x
            warnings.simplefilter("ignore")
            return quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8), torch.float32
    raise UsageError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, device: str) -> float:
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model(x.to(device=device, dtype=dtype)).float().argmax(dim=1).cpu()
    return float((pred == y).float().mean())


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_config(model: nn.Module, dtype: torch.dtype, inputs: torch.Tensor, batch: int, device: str,
                   meter: EnergyMeter, seconds: float,
                   clock: Callable[[], float] = time.perf_counter) -> tuple[float, float, float, float]:
    """Repeat batch calls for about `seconds`: (latency_ms per call, items/s, J/item, mean W)."""
    reps = -(-batch // len(inputs))
    x = inputs.repeat(reps, 1)[:batch].to(device=device, dtype=dtype).contiguous()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):  # warm-up: allocator, kernels, quantization packs
            model(x)
        _sync(device)
        calls = 0
        e0, t0 = meter.joules(), clock()
        while True:
            model(x)
            calls += 1
            if calls % 4 == 0 or batch >= 128:
                _sync(device)
                if clock() - t0 >= seconds:
                    break
        _sync(device)
        t1, e1 = clock(), meter.joules()
    elapsed = t1 - t0
    items = calls * batch
    energy = e1 - e0
    if energy <= 0:
        raise RuntimeError(f"energy meter ({meter.method}) read no energy over {elapsed:.2f} s")
    return 1e3 * elapsed / calls, items / elapsed, energy / items, energy / elapsed


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or 'CPU'} ({torch.get_num_threads()} threads)"


def gpu_power_limit_w(meter: SourceMeter) -> float | None:
    """The enforced power limit of the first GPU the meter's NVML source reads (None without NVML)."""
    for source in meter.sources:
        info = getattr(source, "info", None)
        if source.name == "nvml" and info is not None:
            gpus = info()
            return gpus[0]["power_limit_w"] if gpus else None
    return None


@dataclass(frozen=True, slots=True)
class ProfileResult:
    rows: list[ProfileRow]
    reference_accuracy: float
    method: str
    notes: list[str]


def profile_model(meter: EnergyMeter, batches: Sequence[int] = (1, 8, 32, 128, 512),
                  precisions: Sequence[str] = PRECISIONS, seconds: float = 1.0, device: str = "cpu",
                  power_limit_w: float | None = None, seed: int = 0, hidden: int = 512,
                  epochs: int = 15) -> ProfileResult:
    """Train the digits MLP, then measure every (precision, batch) configuration."""
    for p in precisions:
        if p not in PRECISIONS:
            raise UsageError(f"unknown precision {p!r}; use {', '.join(PRECISIONS)}")
    if not batches or any(b < 1 for b in batches):
        raise UsageError("batch sizes must be positive integers")
    torch.manual_seed(seed)
    task = load_digits_task(seed)
    base = train(build_mlp(hidden), task, epochs=epochs, seed=seed)
    ref_acc = accuracy(base, task.x_test, task.y_test, torch.float32, "cpu")
    workload = f"digits_mlp{hidden}x3"
    rows: list[ProfileRow] = []
    notes: list[str] = []
    for precision in precisions:
        if precision == "int8" and device != "cpu":
            notes.append("int8 dynamic quantization skipped: CPU-only in PyTorch")
            continue
        model, dtype = convert(base, precision, device)
        acc = accuracy(model, task.x_test, task.y_test, dtype, device)
        for batch in batches:
            lat, ips, jpi, watts = measure_config(model, dtype, task.x_test, batch, device, meter, seconds)
            rows.append(ProfileRow(
                gpu=device_name(device), workload=workload, precision=precision, batch=int(batch),
                power_limit_w=power_limit_w, items_per_s=round(ips, 3), latency_ms=round(lat, 5),
                energy_j_per_item=float(f"{jpi:.6g}"), mean_power_w=round(watts, 3),
                quality=round(acc / ref_acc, 4),
            ))
    return ProfileResult(rows, ref_acc, meter.method, notes)


def profile_cli(args: argparse.Namespace) -> int:
    precisions = [p.strip() for p in args.precisions.split(",")]
    torch.set_num_threads(args.threads)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device visible to PyTorch")
    meter = open_meter(args.source)
    limit = gpu_power_limit_w(meter) if device.startswith("cuda") else None
    result = profile_model(meter, args.batches, precisions, args.seconds, device=device, power_limit_w=limit)
    comments = [
        f"measured by `ecoai profile` on {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        f"energy method: {result.method}",
        "workload: MLP 64-512-512-10 (ReLU) trained at setup on scikit-learn digits (70/30 split, seed 0); "
        f"fp32 held-out accuracy {result.reference_accuracy:.4f}; quality = accuracy / fp32 accuracy",
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads, "
        f"window {args.seconds:g} s per config",
        *result.notes,
    ]
    write_profile(result.rows, args.out, comments)
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in result.rows], "method": result.method,
                          "reference_accuracy": result.reference_accuracy, "out": str(args.out)}, indent=2))
    else:
        print(f"wrote {len(result.rows)} rows to {args.out} (energy: {result.method})")
    return 0
