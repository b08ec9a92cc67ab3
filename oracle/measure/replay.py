"""Replay of a recorded NVML trace, for machines without a GPU. Every reading is labelled `replayed`.

The trace (CSV with `unix_time_s` and `energy_counter_mj`, or `power_mw` when no counter was recorded; the
shipped default is a real H200 trace, see data/PROVENANCE.md) is mapped onto the wall clock: trace position
`offset_s + (now - start)` seconds, looping seamlessly when `loop` is set (the next lap starts where the last
sample of the previous lap ended, so no energy is invented at the seam). Real time comes from the sampler's
wall clock; fast replays (tests) drive `sample(now)` with a virtual clock (`Sampler.run(..., realtime=False)`).
Each `sample(now)` gives one reading covering [previous sample, now), like a live counter read at that
tick: the trace's energy over that span, a trace interval that straddles a sample time split pro rata by
time (the same uniform-power assumption the epoch aggregation makes). Cumulative energy and utilisation
tables make that O(1) per sample, whatever the sampling rate.
"""

from __future__ import annotations

import bisect
import csv
import math
from pathlib import Path

from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable, counter_delta

DEFAULT_TRACE = Path(__file__).resolve().parent / "data" / "h200_inference_trace.csv"


class ReplayClock:
    """Maps wall time to trace position: position = now - origin, where the first `prime(now)` of any source
    sharing the clock sets origin = now - offset_s. The energy replay and the work replay share one, so both
    play the same moment of the trace however their reads are scheduled (10 Hz vs interval boundaries)."""

    def __init__(self, offset_s: float, lap_s: float) -> None:
        if not 0 <= offset_s < lap_s:
            raise SourceUnavailable(f"replay offset {offset_s} s is outside the trace (0 to {lap_s:.1f} s)")
        self.offset_s = offset_s
        self.origin: float | None = None  # wall time that maps to trace position 0 of lap 0

    def prime(self, now: float) -> float:
        if self.origin is None:
            self.origin = now - self.offset_s
        return self.origin


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
    cumulative = True  # cumulative tables: exact at any read times, so boundary reads suffice

    def __init__(self, path: Path | str = DEFAULT_TRACE, offset_s: float = 0.0, loop: bool = True) -> None:
        self.path = Path(path)
        self._starts, self._energies, self._utils, self.method = load_trace(self.path)
        self.lap_s = self._starts[-1]
        self.clock = ReplayClock(offset_s, self.lap_s)
        self.offset_s = offset_s
        self.loop = loop
        self.device = f"replay:{self.path.stem}"
        # Cumulative tables at each trace sample: energy (mJ) and utilisation x seconds. A trace with any
        # unknown utilisation gives no utilisation context at all (NaN spreads through the sums).
        self._cum_mj, self._cum_util = [0.0], [0.0]
        for i, energy in enumerate(self._energies):
            self._cum_mj.append(self._cum_mj[-1] + energy)
            dt = self._starts[i + 1] - self._starts[i]
            self._cum_util.append(self._cum_util[-1] + self._utils[i] / 100.0 * dt)
        self.lap_mj, self._lap_util = self._cum_mj[-1], self._cum_util[-1]
        self._cursor: float | None = None  # wall time up to which readings were emitted

    def devices(self) -> list[str]:
        return [self.device]

    def _cumulative(self, pos: float) -> tuple[float, float]:
        """(energy mJ, utilisation x s) of the trace from position 0 of lap 0 to `pos` (laps counted)."""
        lap, x = divmod(pos, self.lap_s)
        starts = self._starts
        i = bisect.bisect_right(starts, x) - 1
        if i >= len(self._energies):  # x rounds to the lap end
            i = len(self._energies) - 1
        f = (x - starts[i]) / (starts[i + 1] - starts[i])
        return (lap * self.lap_mj + self._cum_mj[i] + self._energies[i] * f,
                lap * self._lap_util + self._cum_util[i] + (self._cum_util[i + 1] - self._cum_util[i]) * f)

    def sample(self, now: float) -> list[Item]:
        cursor = self._cursor
        if cursor is None:
            self.clock.prime(now)
            self._cursor = now
            return []
        if now <= cursor:
            return []
        origin = self.clock.origin
        assert origin is not None
        self._cursor = now
        a, b = cursor - origin, now - origin  # trace positions, counting laps
        if not self.loop and b > self.lap_s:
            out: list[Item] = []
            if a < self.lap_s:
                out.extend(self._reading(cursor, origin + self.lap_s, a, self.lap_s))
            out.append(Gap(origin + max(a, self.lap_s), now, self.device, self.name, "replay trace ended"))
            return out
        seam = (a // self.lap_s + 1) * self.lap_s
        if b <= seam:
            return self._reading(cursor, now, a, b)
        out = []  # split at each lap seam, so that every lap's readings end exactly where the lap does
        t = cursor
        while a < b:
            end = min(b, seam)
            t_end = origin + end if end < b else now
            out.extend(self._reading(t, t_end, a, end))
            a, t, seam = end, t_end, seam + self.lap_s
        return out

    def _reading(self, t0: float, t1: float, a: float, b: float) -> list[Item]:
        """The reading of wall span [t0, t1), which plays trace positions [a, b)."""
        if not t1 > t0 or not b > a:
            return []
        e0, u0 = self._cumulative(a)
        e1, u1 = self._cumulative(b)
        util = (u1 - u0) / (b - a)
        return [Reading(t0, t1, self.device, self.name, self.method, "replayed", max(0.0, e1 - e0),
                        {} if math.isnan(util) else {"util": util})]

    def close(self) -> None:
        pass
