"""The TDP tables we ship (oracle/measure/data, provenance in PROVENANCE.md): CPUs for the utilisation × TDP
estimate, GPUs for hardware-class reference power (Eco Score)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
# CodeCarbon's fallback when a CPU is not in its table; used only with the method label saying so.
DEFAULT_CPU_TDP_W = 85.0


@dataclass(frozen=True)
class Tdp:
    watts: float
    source: str  # where the number comes from, e.g. "cpu_tdp.csv: AMD EPYC 7763" or "default (model not found)"


@lru_cache(maxsize=1)
def _cpu_table() -> list[tuple[str, float]]:
    rows = []
    with open(DATA_DIR / "cpu_tdp.csv", newline="") as f:
        for r in csv.DictReader(f):
            try:
                rows.append((r["Name"].strip(), float(r["TDP"])))
            except (TypeError, ValueError):  # a few upstream rows are malformed (e.g. "27.29.5"): skip them
                continue
    return sorted(rows, key=lambda r: -len(r[0]))  # longest (most specific) names first


def _normalise(text: str) -> str:
    text = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$|\bprocessor\b|\d+-core", " ", text.lower())
    return " ".join(text.split())


def cpu_tdp(model: str) -> Tdp | None:
    """TDP of a CPU model string as /proc/cpuinfo spells it, or None when our table does not know it."""
    wanted = f" {_normalise(model)} "
    for name, watts in _cpu_table():
        if f" {_normalise(name)} " in wanted:
            return Tdp(watts, f"cpu_tdp.csv: {name}")
    return None


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


@dataclass(frozen=True)
class GpuClass:
    hardware_class: str
    tdp_w: float
    source: str


@lru_cache(maxsize=1)
def _gpu_table() -> list[tuple[str, GpuClass]]:
    with open(DATA_DIR / "gpu_tdp.csv", newline="") as f:
        return [(r["match"], GpuClass(r["class"], float(r["tdp_w"]), r["source"])) for r in csv.DictReader(f)]


def hardware_class(name: str) -> GpuClass | None:
    """The reference row of a hardware class ("H200"): its highest-TDP row in gpu_tdp.csv (the flagship)."""
    wanted = name.strip().upper()
    rows = [cls for _, cls in _gpu_table() if cls.hardware_class.upper() == wanted]
    return max(rows, key=lambda c: c.tdp_w) if rows else None
