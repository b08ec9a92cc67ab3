"""The CPU TDP table we ship (oracle/measure/data/cpu_tdp.csv, provenance in PROVENANCE.md), for the utilisation ×
TDP estimate of CPU energy."""

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
