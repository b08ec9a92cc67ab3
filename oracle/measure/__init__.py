"""Energy measurement: NVML (GPUs), RAPL (CPU package/DRAM), a labelled CPU estimate, and replays of real traces.

Only stdlib, pynvml, numpy and psutil are imported here (the GPU machine runs scripts/gpu_check.py with those).

    from oracle.measure import open_sources, Sampler
    sources = open_sources(["auto"])   # NVML when a GPU is present, else the replayed H200 trace + CPU estimate
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from oracle.measure.reading import EnergySource, Gap, Item, Kind, Reading, SourceUnavailable, counter_delta
from oracle.measure.sampler import Sampler

SOURCE_CHOICES = ("auto", "nvml", "rapl", "cpu", "replay", "replay:FILE")

__all__ = ["EnergySource", "Gap", "Item", "Kind", "Reading", "Sampler", "SourceUnavailable", "counter_delta",
           "open_source", "open_sources", "SOURCE_CHOICES"]


def open_source(spec: str, *, replay_offset_s: float = 0.0) -> EnergySource:
    """One source from its CLI spelling: nvml | rapl | cpu | replay | replay:FILE. Raises SourceUnavailable."""
    if spec == "nvml":
        from oracle.measure.nvml import NvmlSource
        return NvmlSource()
    if spec == "rapl":
        from oracle.measure.rapl import RaplSource
        return RaplSource()
    if spec == "cpu":
        from oracle.measure.cpu import CpuEstimateSource
        return CpuEstimateSource()
    if spec == "replay" or spec.startswith("replay:"):
        from oracle.measure.replay import DEFAULT_TRACE, ReplaySource
        path = Path(spec.split(":", 1)[1]) if ":" in spec else DEFAULT_TRACE
        return ReplaySource(path, offset_s=replay_offset_s)
    raise SourceUnavailable(f"unknown source {spec!r} (choose from {', '.join(SOURCE_CHOICES)})")


def open_sources(specs: Sequence[str] = ("auto",), *, replay_offset_s: float = 0.0) -> list[EnergySource]:
    """Sources for a list of specs. "auto" = NVML if a GPU answers, else RAPL if readable, else the CPU
    estimate; and without NVML also the replayed real H200 trace (labelled replayed) for the GPU side."""
    out: list[EnergySource] = []
    for spec in specs:
        if spec != "auto":
            out.append(open_source(spec, replay_offset_s=replay_offset_s))
            continue
        try:
            out.append(open_source("nvml"))
            continue
        except SourceUnavailable:
            out.append(open_source("replay", replay_offset_s=replay_offset_s))
        try:
            out.append(open_source("rapl"))
        except SourceUnavailable:
            out.append(open_source("cpu"))
    return out
