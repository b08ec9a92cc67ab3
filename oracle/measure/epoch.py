"""Pure aggregation of readings into an epoch's N per-interval energies (integer mJ) for the circuit.

Each reading's energy is spread uniformly over its own interval and split pro rata across the N equal
intervals of [t0, t1). Rounding is done on the running total (interval k gets round(C[k+1]) - round(C[k])),
so the integers are non-negative and add up exactly to the rounded epoch total. Spans of a device with no
reading become gaps; recorded gaps are kept. Nothing is filled in: an epoch with any gap is `complete=False`
and its intervals are a lower bound of what was used, which is why a node must not prove it as complete.

Work is aggregated the same way, from work readings (counter increases between boundary reads): spread
uniformly over each reading, split pro rata across the intervals, rounded on the running total, so the N
whole-unit interval counts add up exactly to the epoch's work total. Spans of an expected counter without a
work reading become work gaps; an epoch's work must be in one unit (WorkUnitMismatch otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from oracle.conventions import N_INTERVALS
from oracle.measure.reading import KINDS, METHOD_CODES, Gap, Reading, WorkGap, WorkReading, WorkUnitMismatch

MAX_INTERVAL_MJ = 2**32 - 1  # the circuit range-checks each interval to 32 bits
MAX_INTERVAL_UNITS = 2**32 - 1  # ... energy and work alike
# Float slack when comparing reading boundaries (seconds); far below one sample period.
COVER_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class EpochEnergy:
    """What one epoch [t0, t1) used, ready for the prover, with its provenance.

    `intervals_mj`: the N interval energies the circuit takes; `gaps`: spans without a reading (any makes the
    epoch incomplete); `by_kind`: mJ per kind (measured / estimated / replayed); `by_method`: mJ per
    "source/method" label.

    Work (v2): `work_units` the N whole-unit work counts of the same intervals (the counters' increase),
    `work_total` their sum, `work_unit` ("token", "item", ...), `work_method` (measured / estimated / replayed:
    the least trustworthy kind among the epoch's work readings), `work_counters` the counters expected or seen,
    `work_gaps` spans where a counter's increase is unknown (unreadable, reset, went backwards, no reading).
    Records closed before work was metered have `work_units == ()`.
    """

    epoch: int | None
    t0: float
    t1: float
    intervals_mj: tuple[int, ...]
    total_mj: int
    by_method: dict[str, int]  # "source/method" -> mJ
    by_kind: dict[str, int]  # measured / estimated / replayed -> mJ
    devices: tuple[str, ...]
    gaps: tuple[Gap, ...] = field(default=())
    work_units: tuple[int, ...] = field(default=())
    work_total: int = 0
    work_unit: str | None = None
    work_method: str | None = None
    work_counters: tuple[str, ...] = field(default=())
    work_gaps: tuple[WorkGap, ...] = field(default=())

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """The N (energy_mj, work_units) pairs the efficiency circuit takes (empty when no work was metered)."""
        return tuple(zip(self.intervals_mj, self.work_units))

    @property
    def work_complete(self) -> bool:
        """True when every work counter was read over the whole epoch (no work gap) and there is one."""
        return not self.work_gaps and bool(self.work_counters) and len(self.work_units) == len(self.intervals_mj)

    @property
    def energy_method(self) -> str | None:
        """Least trustworthy kind among the epoch's energy readings (measured < estimated < replayed)."""
        kinds = [k for k in KINDS if k in self.by_kind]
        return kinds[-1] if kinds else None

    @property
    def methods(self) -> int | None:
        """The circuit's public `methods` = energy_method | work_method << 4 (codes 0 measured, 1 estimated,
        2 replayed); None until both are known."""
        if self.energy_method is None or self.work_method is None:
            return None
        return METHOD_CODES[self.energy_method] | METHOD_CODES[self.work_method] << 4

    def work_gap_intervals(self) -> list[int]:
        """Indexes of the N intervals a work gap overlaps (their counts are a lower bound)."""
        n = len(self.intervals_mj)
        width = (self.t1 - self.t0) / n
        return sorted({k for g in self.work_gaps for k in range(n)
                       if g.t_start < self.t0 + (k + 1) * width and g.t_end > self.t0 + k * width})

    @property
    def complete(self) -> bool:
        """True when every device is covered by readings over the whole epoch (no gap)."""
        return not self.gaps and bool(self.devices)

    @property
    def gap_seconds(self) -> float:
        return sum(g.t_end - g.t_start for g in self.gaps)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["intervals_mj"] = list(self.intervals_mj)
        d["devices"] = list(self.devices)
        d["gaps"] = [asdict(g) for g in self.gaps]
        d["complete"] = self.complete
        d["work_units"] = list(self.work_units)
        d["work_counters"] = list(self.work_counters)
        d["work_gaps"] = [asdict(g) for g in self.work_gaps]
        d["work_complete"] = self.work_complete
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochEnergy:
        return cls(d["epoch"], d["t0"], d["t1"], tuple(d["intervals_mj"]), d["total_mj"], dict(d["by_method"]),
                   dict(d["by_kind"]), tuple(d["devices"]), tuple(Gap(**g) for g in d["gaps"]),
                   tuple(d.get("work_units", ())), d.get("work_total", 0), d.get("work_unit"),
                   d.get("work_method"), tuple(d.get("work_counters", ())),
                   tuple(WorkGap(**g) for g in d.get("work_gaps", ())))


def _round_shares(shares: dict[str, float]) -> dict[str, int]:
    return {k: round(v) for k, v in sorted(shares.items())}


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + COVER_TOLERANCE_S:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _holes(covered: dict[str, list[tuple[float, float]]], t0: float, t1: float) -> list[tuple[float, float, str]]:
    """The spans of [t0, t1) that no span of a key covers (beyond COVER_TOLERANCE_S), as (start, end, key)."""
    out: list[tuple[float, float, str]] = []
    for key, spans in covered.items():
        cursor = t0
        for a, b in _merge(spans):
            if a > cursor + COVER_TOLERANCE_S:
                out.append((cursor, a, key))
            cursor = max(cursor, b)
        if t1 > cursor + COVER_TOLERANCE_S:
            out.append((cursor, t1, key))
    return out


def _add_pro_rata(per_interval: list[float], a: float, b: float, rate: float, t0: float, t1: float) -> None:
    """Add rate × overlap to each of the intervals of [t0, t1) (len(per_interval) equal ones) that [a, b) covers."""
    n = len(per_interval)
    width = (t1 - t0) / n
    k = min(n - 1, int((a - t0) // width))
    while k < n:
        lo, hi = t0 + k * width, (t0 + (k + 1) * width if k < n - 1 else t1)
        if lo >= b:
            break
        overlap = min(b, hi) - max(a, lo)
        if overlap > 0:
            per_interval[k] += rate * overlap
        k += 1


def _spread(spans: Iterable[tuple[float, float, float]], t0: float, t1: float, n: int) -> list[float]:
    """Amounts (a, b, amount) spread uniformly over [a, b) and split pro rata across the n intervals of [t0, t1)."""
    per_interval = [0.0] * n
    for a0, b0, amount in spans:
        a, b = max(a0, t0), min(b0, t1)
        if b <= a:
            continue
        rate = amount / (b0 - a0)
        _add_pro_rata(per_interval, a, b, rate, t0, t1)
    return per_interval


def _round_running(per_interval: list[float]) -> tuple[tuple[int, ...], int]:
    """Whole numbers by rounding the running total: non-negative, and they add up to the rounded total."""
    cumulative, running = [0], 0.0
    for e in per_interval:
        running += e
        cumulative.append(round(running))
    return tuple(cumulative[k + 1] - cumulative[k] for k in range(len(per_interval))), cumulative[-1]


def aggregate_work(readings: Iterable[WorkReading], gaps: Iterable[WorkGap], t0: float, t1: float,
                   n: int = N_INTERVALS, counters: Iterable[str] | None = None, unit: str | None = None,
                   ) -> dict[str, Any]:
    """The work fields of an epoch (EpochEnergy's work_* keywords) from work readings and gaps of [t0, t1).

    `counters`: the work counters expected to report (default: those seen); `unit`: the unit they count
    (default: the readings'). Readings in another unit raise WorkUnitMismatch.
    """
    if not t1 > t0 or n < 1:
        raise ValueError(f"bad epoch window [{t0}, {t1}) / n={n}")
    covered: dict[str, list[tuple[float, float]]] = {c: [] for c in (counters or ())}
    units = {unit} if unit else set()
    kinds: set[str] = set()
    spans = []
    for r in readings:
        covered.setdefault(r.counter, [])
        a, b = max(r.t_start, t0), min(r.t_end, t1)
        if b <= a:
            continue
        units.add(r.unit)
        if len(units) > 1:
            raise WorkUnitMismatch(f"an epoch's work must be in one unit: got {', '.join(sorted(units))}")
        kinds.add(r.kind)
        covered[r.counter].append((a, b))
        spans.append((r.t_start, r.t_end, float(r.units)))
    recorded: list[WorkGap] = []
    for g in gaps:
        covered.setdefault(g.counter, [])
        a, b = max(g.t_start, t0), min(g.t_end, t1)
        if b > a:
            recorded.append(WorkGap(a, b, g.counter, g.source, g.reason))
            covered[g.counter].append((a, b))
    recorded += [WorkGap(a, b, counter, "", "no reading") for a, b, counter in _holes(covered, t0, t1)]
    work_units, total = _round_running(_spread(spans, t0, t1, n))
    if max(work_units) > MAX_INTERVAL_UNITS:
        raise ValueError(f"an interval holds {max(work_units)} work units, above the circuit's 32-bit range")
    method = max(kinds, key=METHOD_CODES.__getitem__) if kinds else None
    return {"work_units": work_units, "work_total": total, "work_unit": next(iter(units)) if units else None,
            "work_method": method, "work_counters": tuple(sorted(covered)),
            "work_gaps": tuple(sorted(recorded, key=lambda g: (g.t_start, g.counter)))}


def aggregate(readings: Iterable[Reading], gaps: Iterable[Gap], t0: float, t1: float, n: int = N_INTERVALS,
              epoch: int | None = None, devices: Iterable[str] | None = None,
              work: dict[str, Any] | None = None) -> EpochEnergy:
    """Aggregate readings (any that overlap [t0, t1)) into n interval energies; see the module docstring.

    `devices`: the devices expected to report (e.g. the sampler's); default: every device seen in the window.
    `work`: the epoch's work fields from `aggregate_work` (default: none metered, work_units == ()).
    """
    if not t1 > t0 or n < 1:
        raise ValueError(f"bad epoch window [{t0}, {t1}) / n={n}")
    per_interval = [0.0] * n
    by_method: dict[str, float] = {}
    by_kind: dict[str, float] = {}
    covered: dict[str, list[tuple[float, float]]] = {d: [] for d in (devices or ())}
    for r in readings:
        a, b = max(r.t_start, t0), min(r.t_end, t1)
        covered.setdefault(r.device, [])
        if b <= a:
            continue
        covered[r.device].append((a, b))
        rate = r.energy_mj / (r.t_end - r.t_start)
        share = rate * (b - a)
        by_method[r.label] = by_method.get(r.label, 0.0) + share
        by_kind[r.kind] = by_kind.get(r.kind, 0.0) + share
        _add_pro_rata(per_interval, a, b, rate, t0, t1)
    recorded: list[Gap] = []
    accounted = {d: list(spans) for d, spans in covered.items()}  # readings and recorded gaps
    for g in gaps:
        a, b = max(g.t_start, t0), min(g.t_end, t1)
        accounted.setdefault(g.device, [])
        if b > a:
            recorded.append(Gap(a, b, g.device, g.source, g.reason))
            accounted[g.device].append((a, b))
    # spans nobody accounted for (sampler not running, readings lost in a crash)
    holes = [Gap(a, b, device, "", "no reading") for a, b, device in _holes(accounted, t0, t1)]
    cumulative, running = [0], 0.0
    for e in per_interval:
        running += e
        cumulative.append(round(running))
    intervals = tuple(cumulative[k + 1] - cumulative[k] for k in range(n))
    if max(intervals) > MAX_INTERVAL_MJ:
        raise ValueError(f"an interval holds {max(intervals)} mJ, above the circuit's 32-bit range: use shorter epochs")
    return EpochEnergy(epoch, t0, t1, intervals, cumulative[-1], _round_shares(by_method), _round_shares(by_kind),
                       tuple(sorted(accounted)), tuple(sorted(recorded + holes, key=lambda g: (g.t_start, g.device))),
                       **(work or {}))
