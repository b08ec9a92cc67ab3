"""Pure aggregation of readings into an epoch's N per-interval energies (integer mJ) for the circuit.

Each reading's energy is spread uniformly over its own interval and split pro rata across the N equal
intervals of [t0, t1). Rounding is done on the running total (interval k gets round(C[k+1]) - round(C[k])),
so the integers are non-negative and add up exactly to the rounded epoch total. Spans of a device with no
reading become gaps; recorded gaps are kept. Nothing is filled in: an epoch with any gap is `complete=False`
and its intervals are a lower bound of what was used, which is why a node must not prove it as complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from oracle.conventions import N_INTERVALS
from oracle.measure.reading import Gap, Reading

MAX_INTERVAL_MJ = 2**32 - 1  # the circuit range-checks each interval to 32 bits
# Float slack when comparing reading boundaries (seconds); far below one sample period.
COVER_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class EpochEnergy:
    """What one epoch [t0, t1) used, ready for the prover, with its provenance.

    `intervals_mj`: the N interval energies the circuit takes; `gaps`: spans without a reading (any makes the
    epoch incomplete); `by_kind`: mJ per kind (measured / estimated / replayed); `by_method`: mJ per
    "source/method" label.
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
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochEnergy:
        return cls(d["epoch"], d["t0"], d["t1"], tuple(d["intervals_mj"]), d["total_mj"], dict(d["by_method"]),
                   dict(d["by_kind"]), tuple(d["devices"]), tuple(Gap(**g) for g in d["gaps"]))


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


def aggregate(readings: Iterable[Reading], gaps: Iterable[Gap], t0: float, t1: float, n: int = N_INTERVALS,
              epoch: int | None = None, devices: Iterable[str] | None = None) -> EpochEnergy:
    """Aggregate readings (any that overlap [t0, t1)) into n interval energies; see the module docstring.

    `devices`: the devices expected to report (e.g. the sampler's); default: every device seen in the window.
    """
    if not t1 > t0 or n < 1:
        raise ValueError(f"bad epoch window [{t0}, {t1}) / n={n}")
    width = (t1 - t0) / n
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
        k = min(n - 1, int((a - t0) // width))
        while k < n:
            lo, hi = t0 + k * width, (t0 + (k + 1) * width if k < n - 1 else t1)
            if lo >= b:
                break
            overlap = min(b, hi) - max(a, lo)
            if overlap > 0:
                per_interval[k] += rate * overlap
            k += 1
    recorded: list[Gap] = []
    accounted = {d: list(spans) for d, spans in covered.items()}  # readings and recorded gaps
    for g in gaps:
        a, b = max(g.t_start, t0), min(g.t_end, t1)
        accounted.setdefault(g.device, [])
        if b > a:
            recorded.append(Gap(a, b, g.device, g.source, g.reason))
            accounted[g.device].append((a, b))
    holes: list[Gap] = []  # spans nobody accounted for (sampler not running, readings lost in a crash)
    for device, spans in accounted.items():
        cursor = t0
        for a, b in _merge(spans):
            if a > cursor + COVER_TOLERANCE_S:
                holes.append(Gap(cursor, a, device, "", "no reading"))
            cursor = max(cursor, b)
        if t1 > cursor + COVER_TOLERANCE_S:
            holes.append(Gap(cursor, t1, device, "", "no reading"))
    cumulative, running = [0], 0.0
    for e in per_interval:
        running += e
        cumulative.append(round(running))
    intervals = tuple(cumulative[k + 1] - cumulative[k] for k in range(n))
    if max(intervals) > MAX_INTERVAL_MJ:
        raise ValueError(f"an interval holds {max(intervals)} mJ, above the circuit's 32-bit range: use shorter epochs")
    return EpochEnergy(epoch, t0, t1, intervals, cumulative[-1], _round_shares(by_method), _round_shares(by_kind),
                       tuple(sorted(accounted)), tuple(sorted(recorded + holes, key=lambda g: (g.t_start, g.device))))
