"""Adapter from the epoch loop to oracle.measure (sources + sampler) and its store (durable readings)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from oracle.errors import UsageError
from oracle.measure import Sampler, SourceUnavailable, open_sources
from oracle.measure.sampler import Sink
from oracle.conventions import N_INTERVALS
from oracle.measure.epoch import EpochEnergy
from oracle.measure.store import Store

log = logging.getLogger("ecoai.oracle")
GRACE_S = 10.0  # longest wait for a busy machine's sampler to store an epoch's last readings


class StoreMeter:
    """Samples in a background thread into the store, which commits at least once per second and before any
    read, so a killed process loses at most the last second of readings (the span becomes a recorded gap,
    never a guess) and the node never acts on readings that are not in SQLite."""

    def __init__(self, sources: Sequence[str], sample_hz: float, store: Store | None = None,
                 sinks: Sequence[Sink] = ()) -> None:
        try:
            self.sources = open_sources(list(sources))
        except SourceUnavailable as exc:
            raise UsageError(f"config field measure.sources: {exc}") from None
        self.store = store or Store()
        interval = 1.0 / sample_hz
        # The store first: readings are durable before anything else sees them.
        self.sampler = Sampler(self.sources, sinks=[self.store.sink, *sinks], interval_s=interval,
                               flush_interval_s=interval)
        self.devices = [d for s in self.sources for d in s.devices()]
        self._thread: threading.Thread | None = None
        kinds = ", ".join(f"{s.name} ({getattr(s, 'method', '')})".replace(" ()", "") for s in self.sources)
        log.info("measuring with %s at %.1f Hz (devices: %s)", kinds, sample_hz, ", ".join(self.devices))

    def start(self) -> None:
        if self._thread is None:
            self._thread = self.sampler.start_background()

    def stop(self) -> None:
        if self._thread is not None:
            self.sampler.stop()
            self._thread.join(timeout=5)
            self._thread = None
        for source in self.sources:
            source.close()

    def settle_s(self) -> float:
        return 2 * self.sampler.interval_s + 0.05

    def ready(self, end_s: float, now: float) -> bool:
        """True once every device has a stored reading reaching `end_s` (or, past a grace period, regardless:
        a device that stopped reporting leaves a recorded gap instead of holding the epoch open forever)."""
        if now >= end_s + GRACE_S:
            return True
        reached = {r.device for r in self.store.readings(end_s - 1e-3, float("inf")) if r.t_end >= end_s - 1e-6}
        return reached >= set(self.devices)

    def epoch_energy(self, epoch: int, start_s: float, end_s: float) -> EpochEnergy:
        return self.store.record_epoch(epoch, start_s, end_s, N_INTERVALS, devices=self.devices)

