"""Energy measurement: NVML (GPUs), RAPL (CPU package/DRAM), a labelled CPU estimate, and replays of real traces.

Only stdlib, pynvml, numpy and psutil are imported here (the GPU machine runs scripts/gpu_check.py with those).

    from oracle.measure import open_sources, Sampler
    sources = open_sources(["auto"])   # NVML when a GPU is present, else the replayed H200 trace + CPU side

Work meters (oracle.measure.work) count useful work the same way, as cumulative counters read at interval
boundaries by `oracle.measure.counters.CounterReader`; `open_work_sources` / `check_work_spec` resolve their
specs.

`open_sources` is the one resolver of energy-source specs (the `ecoai measure --source` and node
`measure.sources` spellings, the profiler's `--source`); `check_source_spec` validates a spelling without
opening anything (for config files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from oracle.measure.reading import EnergySource, Gap, Item, Kind, Reading, SourceUnavailable, counter_delta
from oracle.measure.sampler import Sampler

SOURCE_CHOICES = ("auto", "nvml", "rapl", "cpu", "replay", "replay:FILE")

from oracle.measure.work import check_work_spec, open_work_sources  # noqa: E402  (stdlib at import time)

__all__ = ["check_work_spec", "open_work_sources", "EnergySource", "Gap", "Item", "Kind", "Reading", "Sampler", "SourceUnavailable", "counter_delta",
           "check_source_spec", "open_source", "open_sources", "SOURCE_CHOICES"]


def check_source_spec(spec: str) -> str:
    """`spec` unchanged when it is a known spelling (auto | nvml | rapl | cpu | replay | replay:FILE); raises
    SourceUnavailable naming the choices otherwise. Opens nothing."""
    if spec in ("auto", "nvml", "rapl", "cpu", "replay") or (spec.startswith("replay:") and len(spec) > 7):
        return spec
    raise SourceUnavailable(f"unknown source {spec!r} (choose from {', '.join(SOURCE_CHOICES)})")


def open_source(spec: str, *, replay_offset_s: float = 0.0,
                cpu_times: Callable[[], Any] | None = None) -> EnergySource:
    """One source from its spelling: nvml | rapl | cpu | replay | replay:FILE. Raises SourceUnavailable.

    `cpu_times`: for the CPU estimate, a `psutil.cpu_times`-shaped callable (default: the whole machine's).
    """
    check_source_spec(spec)
    if spec == "nvml":
        from oracle.measure.nvml import NvmlSource
        return NvmlSource()
    if spec == "rapl":
        from oracle.measure.rapl import RaplSource
        return RaplSource()
    if spec == "cpu":
        from oracle.measure.cpu import CpuEstimateSource
        return CpuEstimateSource(cpu_times=cpu_times)
    if spec == "auto":
        raise SourceUnavailable("'auto' may stand for several sources: use open_sources")
    from oracle.measure.replay import DEFAULT_TRACE, ReplaySource
    path = Path(spec.split(":", 1)[1]) if ":" in spec else DEFAULT_TRACE
    return ReplaySource(path, offset_s=replay_offset_s)


def open_sources(specs: Sequence[str] = ("auto",), *, replay_offset_s: float = 0.0, replay_stand_in: bool = True,
                 cpu_times: Callable[[], Any] | None = None) -> list[EnergySource]:
    """Sources for a list of specs.

    "auto" means: NVML when a GPU answers (its energy is what the machine's AI work uses); otherwise the CPU
    side, RAPL if readable else the CPU estimate, plus (when `replay_stand_in`) the replayed real H200 trace,
    labelled replayed, standing in for the missing GPU. A caller that must measure only live work (the
    profiler) passes replay_stand_in=False.
    """
    out: list[EnergySource] = []
    for spec in specs:
        if spec != "auto":
            out.append(open_source(spec, replay_offset_s=replay_offset_s, cpu_times=cpu_times))
            continue
        try:
            out.append(open_source("nvml"))
            continue
        except SourceUnavailable:
            pass
        if replay_stand_in:
            out.append(open_source("replay", replay_offset_s=replay_offset_s))
        try:
            out.append(open_source("rapl"))
        except SourceUnavailable:
            out.append(open_source("cpu", cpu_times=cpu_times))
    return out
