"""Replay of a recorded NVML trace, for machines without a GPU. Every reading is labelled `replayed`.

The trace (CSV with `unix_time_s` and `energy_counter_mj`, or `power_mw` when no counter was recorded; the
shipped default is a real H200 trace, see data/PROVENANCE.md) is mapped onto the wall clock: trace position
`offset_s + (now - start)` seconds, looping seamlessly when `loop` is set (the next lap starts where the last
sample of the previous lap ended, so no energy is invented at the seam). Real time comes from the sampler's
wall clock; fast replays (tests) drive `sample(now)` with a virtual clock (`Sampler.run(..., realtime=False)`).
A trace interval that straddles a sample time is split pro rata by time, the same uniform-power assumption
the epoch aggregation makes.
"""

from __future__ import annotations

import bisect
import csv
from pathlib import Path

from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable, counter_delta

DEFAULT_TRACE = Path(__file__).resolve().parent / "data" / "h200_inference_trace.csv"


def load_trace(path: Path) -> tuple[list[float], list[float], list[float], str]:
    """(relative start times, segment energies mJ, segment utilisation %, method) of a trace file.

    Raises SourceUnavailable with one clear line when the file is unreadable or malformed.
    """
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "unix_time_s" not in fields or not {"energy_counter_mj", "power_mw"} & set(fields):
                raise SourceUnavailable(
                    f"trace {path} needs columns unix_time_s and energy_counter_mj or power_mw (has {fields})")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceUnavailable(f"cannot read trace {path}: {exc}") from exc
    if len(rows) < 2:
        raise SourceUnavailable(f"trace {path} has fewer than two samples")
    use_counter = "energy_counter_mj" in rows[0] and rows[0]["energy_counter_mj"] not in (None, "")
    try:
        t = [float(r["unix_time_s"]) for r in rows]
        values = [float(r["energy_counter_mj" if use_counter else "power_mw"]) for r in rows]
        util = [float(r.get("gpu_util_pct") or "nan") for r in rows]
    except (TypeError, ValueError) as exc:
        raise SourceUnavailable(f"trace {path} has a non-numeric value: {exc}") from exc
    starts, energies, utils = [], [], []
    for i in range(len(rows) - 1):
        dt = t[i + 1] - t[i]
        if dt <= 0:
            raise SourceUnavailable(f"trace {path}: time does not increase at row {i + 2}")
        if use_counter:
            delta = counter_delta(int(values[i]), int(values[i + 1]), None)
            if delta is None:
                raise SourceUnavailable(f"trace {path}: energy counter goes backwards at row {i + 2}")
            energy = float(delta)
        else:
            energy = (values[i] + values[i + 1]) / 2.0 * dt
        starts.append(t[i] - t[0])
        energies.append(energy)
        utils.append(util[i + 1])
    starts.append(t[-1] - t[0])  # end of the last segment = lap length
    return starts, energies, utils, "energy_counter" if use_counter else "power_integration"


class ReplaySource:
    """Plays a recorded trace back as `replayed` readings on one device named `replay:<file stem>`."""

    name = "replay"

    def __init__(self, path: Path | str = DEFAULT_TRACE, offset_s: float = 0.0, loop: bool = True) -> None:
        self.path = Path(path)
        self._starts, self._energies, self._utils, self.method = load_trace(self.path)
        self.lap_s = self._starts[-1]
        if not 0 <= offset_s < self.lap_s:
            raise SourceUnavailable(f"replay offset {offset_s} s is outside the trace (0 to {self.lap_s:.1f} s)")
        self.offset_s = offset_s
        self.loop = loop
        self.device = f"replay:{self.path.stem}"
        self._origin: float | None = None  # wall time that maps to trace position 0 of lap 0
        self._cursor: float | None = None  # wall time up to which readings were emitted

    def devices(self) -> list[str]:
        return [self.device]

    def sample(self, now: float) -> list[Item]:
        if self._cursor is None:
            self._origin, self._cursor = now - self.offset_s, now
            return []
        if now <= self._cursor:
            return []
        assert self._origin is not None
        out: list[Item] = []
        a, b = self._cursor - self._origin, now - self._origin  # trace positions, counting laps
        self._cursor = now
        if not self.loop and b > self.lap_s:
            if a < self.lap_s:
                out.extend(self._pieces(a, self.lap_s, 0.0))
            out.append(Gap(self._origin + max(a, self.lap_s), now, self.device, self.name, "replay trace ended"))
            return out
        lap = int(a // self.lap_s)
        while a < b:
            lap_end = (lap + 1) * self.lap_s
            end = min(b, lap_end)
            out.extend(self._pieces(a - lap * self.lap_s, end - lap * self.lap_s, lap * self.lap_s))
            a, lap = end, lap + 1
        return out

    def _pieces(self, a: float, b: float, lap_base: float) -> list[Reading]:
        """Readings for trace positions [a, b) within one lap, wall times shifted by the lap."""
        assert self._origin is not None
        out = []
        i = max(0, bisect.bisect_right(self._starts, a) - 1)
        while i < len(self._energies) and self._starts[i] < b:
            s0, s1 = self._starts[i], self._starts[i + 1]
            lo, hi = max(a, s0), min(b, s1)
            if hi > lo:
                energy = self._energies[i] * (hi - lo) / (s1 - s0)
                ctx = {} if self._utils[i] != self._utils[i] else {"util": self._utils[i] / 100.0}
                out.append(Reading(self._origin + lap_base + lo, self._origin + lap_base + hi, self.device,
                                   self.name, self.method, "replayed", energy, ctx))
            i += 1
        return out

    def close(self) -> None:
        pass
