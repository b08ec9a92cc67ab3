"""What every energy source produces: readings that say how they were obtained, and gaps that say when nothing was.

Stdlib only: this module is imported on the GPU machine by scripts/gpu_check.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Union

Kind = Literal["measured", "estimated", "replayed"]
KINDS: tuple[Kind, ...] = ("measured", "estimated", "replayed")


@dataclass(frozen=True, slots=True)
class Reading:
    """Energy one device used over the wall-clock interval [t_start, t_end) (unix seconds).

    source: which adapter produced it ("nvml", "rapl", "cpu", "replay").
    method: how the number was obtained, e.g. "energy_counter", "power_integration", "util_x_tdp".
    kind:   "measured" (a physical counter or sensor of this machine), "estimated" (a model), or
            "replayed" (recorded earlier on another machine and played back; never live).
    energy_mj: millijoules (float: estimates and pro-rated replays are fractional; counters are whole).
    power_w: mean power over the interval (energy / duration), for gauges and plots.
    """

    t_start: float
    t_end: float
    device: str
    source: str
    method: str
    kind: Kind
    energy_mj: float
    context: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.t_end > self.t_start:
            raise ValueError(f"reading interval must be positive: [{self.t_start}, {self.t_end})")
        if self.energy_mj < 0:
            raise ValueError(f"negative energy {self.energy_mj} mJ for {self.device}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")

    @property
    def power_w(self) -> float:
        return self.energy_mj / 1000.0 / (self.t_end - self.t_start)

    @property
    def label(self) -> str:
        """`source/method`: the method label used in aggregates and metrics."""
        return f"{self.source}/{self.method}"


@dataclass(frozen=True, slots=True)
class Gap:
    """A span [t_start, t_end) during which a device's energy is unknown. Gaps are recorded, never filled."""

    t_start: float
    t_end: float
    device: str
    source: str
    reason: str

    def __post_init__(self) -> None:
        if not self.t_end >= self.t_start:
            raise ValueError(f"gap interval reversed: [{self.t_start}, {self.t_end})")


Item = Union[Reading, Gap]


class SourceUnavailable(Exception):
    """The source cannot run on this machine (no GPU, no powercap, unreadable trace); the message says why."""


class EnergySource(Protocol):
    """One adapter (NVML, RAPL, CPU estimate, replay) behind the sampler.

    `sample(now)` returns what happened on each device since the previous call: readings for the intervals it
    could measure and gaps for those it could not. The first call only primes the source and returns no
    readings. `now` is wall-clock unix seconds supplied by the sampler (a virtual clock in fast replays).
    """

    name: str

    def devices(self) -> list[str]: ...

    def sample(self, now: float) -> list[Item]: ...

    def close(self) -> None: ...


def counter_delta(old: int, new: int, modulus: int | None, max_delta: float | None = None) -> int | None:
    """Increase of a monotone hardware energy counter between two reads, or None when it cannot be known.

    - new >= old: the plain difference.
    - new < old and the counter wraps at `modulus` (RAPL's max_energy_range_uj + 1, 2**64 for NVML): the
      wrapped difference, if it is plausible (<= max_delta); otherwise the counter was reset (driver reload,
      GPU reset) and the energy in between is unknown -> None.
    - a difference above max_delta (physically impossible for the interval) -> None.
    """
    if new >= old:
        delta = new - old
    elif modulus is not None:
        delta = new + modulus - old
    else:
        return None
    if max_delta is not None and delta > max_delta:
        return None
    return delta


# --- useful work ----------------------------------------------------------------------------------------------
# Method codes of the efficiency circuit's public `methods` signal (docs/INTERFACES.md, v2 design).
METHOD_CODES: dict[str, int] = {"measured": 0, "estimated": 1, "replayed": 2}


@dataclass(frozen=True, slots=True)
class WorkReading:
    """Useful work one counter counted over [t_start, t_end): the increase of a cumulative counter between two reads.

    counter: the work source's id (e.g. "vllm:http://127.0.0.1:8000/metrics", "work:train", "replay:h200_...").
    source:  the adapter ("prometheus", "work", "replay"); kind: measured / estimated / replayed, as for energy.
    unit:    what one unit is ("token", "image", "request", "inference", "item"); units: a whole number >= 0.
    """

    t_start: float
    t_end: float
    counter: str
    source: str
    kind: Kind
    unit: str
    units: int

    def __post_init__(self) -> None:
        if not self.t_end > self.t_start:
            raise ValueError(f"work interval must be positive: [{self.t_start}, {self.t_end})")
        if type(self.units) is not int or self.units < 0:
            raise ValueError(f"work must be a whole number >= 0, got {self.units!r} for {self.counter}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class WorkGap:
    """A span [t_start, t_end) during which a work counter's increase is unknown (unreadable, reset, went
    backwards, restarted). Recorded, never filled."""

    t_start: float
    t_end: float
    counter: str
    source: str
    reason: str

    def __post_init__(self) -> None:
        if not self.t_end >= self.t_start:
            raise ValueError(f"work gap interval reversed: [{self.t_start}, {self.t_end})")


class WorkUnitMismatch(ValueError):
    """Work counters of one epoch report different units: an epoch's work must be in one unit."""
