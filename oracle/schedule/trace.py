"""Hourly grid carbon-intensity traces: CSV `timestamp, zone, carbon_g_per_kwh` (UTC hour starts).

The committed trace (data/carbon_traces_2020.csv) is real: derived by scripts/derive_carbon_traces.py from
US EIA-930 hourly generation by fuel, 2020, with IPCC AR5 lifecycle factors (data/PROVENANCE.md).
Missing hours stay missing (NaN), never filled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from oracle.csvinput import csv_records, read_input_file
from oracle.errors import UsageError

TRACE_COLUMNS = ("timestamp", "zone", "carbon_g_per_kwh")
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TRACE = DATA_DIR / "carbon_traces_2020.csv"
HOUR = timedelta(hours=1)


def parse_time(text: str) -> datetime:
    """ISO 8601 timestamp; naive ones are taken as UTC. Returns an aware UTC datetime."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO 8601 timestamp: {raw!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


@dataclass(frozen=True)
class CarbonTrace:
    """Hourly intensity per zone on one common UTC hour axis starting at `start` (NaN = no data)."""

    start: datetime
    zones: tuple[str, ...]
    values: np.ndarray  # shape (len(zones), hours), g CO2eq/kWh

    @property
    def hours(self) -> int:
        return int(self.values.shape[1])

    def index(self, t: datetime) -> int:
        """Hour index of a UTC time on the trace axis (floored to the hour)."""
        return int((floor_hour(t) - self.start) // HOUR)

    def time(self, index: int) -> datetime:
        return self.start + index * HOUR

    def zone_index(self, zone: str) -> int:
        try:
            return self.zones.index(zone)
        except ValueError:
            raise UsageError(f"zone {zone!r} is not in the trace (zones: {', '.join(self.zones)})") from None

    def series(self, zone: str) -> np.ndarray:
        return self.values[self.zone_index(zone)]

    def window(self, start: datetime, end: datetime) -> CarbonTrace:
        """The hours [start, end) of this trace."""
        a, b = max(0, self.index(start)), min(self.hours, self.index(end))
        if b <= a:
            raise UsageError(f"trace has no hours in [{start.isoformat()}, {end.isoformat()})")
        return CarbonTrace(self.time(a), self.zones, self.values[:, a:b])

    def select(self, zones: Sequence[str]) -> CarbonTrace:
        idx = [self.zone_index(z) for z in zones]
        return CarbonTrace(self.start, tuple(zones), self.values[idx])


def parse_trace(text: str, source: str = "trace") -> CarbonTrace:
    reader = csv_records(text, TRACE_COLUMNS, source, "trace")
    points: dict[str, dict[datetime, float]] = {}
    for line, rec in enumerate(reader, start=2):
        t = parse_time(rec["timestamp"] or "")
        if t != floor_hour(t):
            raise UsageError(f"{source}: line {line}: timestamps must be hour starts, got {rec['timestamp']!r}")
        zone = (rec["zone"] or "").strip()
        if not zone:
            raise UsageError(f"{source}: line {line}: empty zone")
        try:
            value = float(rec["carbon_g_per_kwh"] or "")
        except ValueError:
            raise UsageError(f"{source}: line {line}: carbon_g_per_kwh is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"{source}: line {line}: carbon_g_per_kwh must be >= 0")
        points.setdefault(zone, {})[t] = value
    if not points:
        raise UsageError(f"{source}: empty trace (header only)")
    start = min(min(p) for p in points.values())
    end = max(max(p) for p in points.values())
    hours = int((end - start) // HOUR) + 1
    zones = tuple(sorted(points))
    values = np.full((len(zones), hours), np.nan)
    for z, zone in enumerate(zones):
        for t, v in points[zone].items():
            values[z, int((t - start) // HOUR)] = v
    return CarbonTrace(start, zones, values)


def load_trace(path: str | Path = DEFAULT_TRACE) -> CarbonTrace:
    return parse_trace(read_input_file(path, "trace"), str(path))
