"""GreenProof v2's epoch schedule, as the node reads it: the one place that turns time into epoch numbers.

The contract numbers epochs by segments (origin, firstEpoch, length): from `origin` on, epoch firstEpoch + k
covers [origin + k·length, origin + (k+1)·length). Segments never overlap and epoch numbers only grow, so a
length change never names the same stretch of time twice. The initial segment (0, 0, L) gives floor(t / L).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    origin: int
    first_epoch: int
    length: int


@dataclass(frozen=True)
class EpochSchedule:
    segments: tuple[Segment, ...]

    @classmethod
    def of(cls, raw: Sequence[Sequence[int]]) -> EpochSchedule:
        """From GreenProof.schedule()'s tuples (origin, firstEpoch, length), in time order."""
        segments = tuple(Segment(int(o), int(f), int(n)) for o, f, n in raw)
        if not segments or any(s.length <= 0 for s in segments):
            raise ValueError(f"bad epoch schedule {raw!r}")
        return cls(segments)

    @classmethod
    def fixed(cls, length: int) -> EpochSchedule:
        return cls((Segment(0, 0, length),))

    def _segment_at(self, t: float) -> Segment:
        for s in reversed(self.segments):
            if s.origin <= t:
                return s
        return self.segments[0]

    def _segment_of(self, epoch: int) -> Segment:
        for s in reversed(self.segments):
            if s.first_epoch <= epoch:
                return s
        return self.segments[0]

    def epoch_at(self, t: float) -> int:
        """The epoch holding unix time t (GreenProof.epochAt)."""
        s = self._segment_at(t)
        return s.first_epoch + int((t - s.origin) // s.length)

    def bounds(self, epoch: int) -> tuple[int, int]:
        """[start, end) of an epoch in unix seconds (GreenProof.epochBounds)."""
        s = self._segment_of(epoch)
        start = s.origin + (epoch - s.first_epoch) * s.length
        return start, start + s.length

    def length_of(self, epoch: int) -> int:
        return self._segment_of(epoch).length

    @property
    def current_length(self) -> int:
        return self.segments[-1].length

    def next_boundary(self, t: float, n: int) -> float:
        """The first of the n interval boundaries of the epochs strictly after t (CounterReader's boundaries)."""
        epoch = self.epoch_at(t)
        start, end = self.bounds(epoch)
        width = (end - start) / n
        k = int((t - start) // width) + 1
        while k <= n:
            b = end if k == n else start + k * width
            if b > t:
                return b
            k += 1
        return self.next_boundary(end, n) if end <= t else end
