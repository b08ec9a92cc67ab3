"""Adapter from the epoch loop to oracle.measure: energy and work sources, read into the node's own store.

Cumulative counters (NVML's energy counter, RAPL, the replayed trace, every work counter) are read at the N
interval boundaries of each epoch by a `CounterReader` (boundaries from GreenProof's epoch schedule); only
sources that integrate power (NVML power integration, the CPU estimate) keep the 10 Hz `Sampler`. The store
commits at least once per second and before any read, so the node never acts on readings that are not in
SQLite, and a killed process loses at most the last second (a recorded gap, never a guess).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import psutil

from oracle.conventions import N_INTERVALS
from oracle.errors import UsageError
from oracle.measure import Sampler, SourceUnavailable, open_sources
from oracle.measure.counters import CounterReader, split_counter_sources
from oracle.measure.epoch import EpochEnergy
from oracle.measure.reading import WorkUnitMismatch
from oracle.measure.sampler import Sink
from oracle.measure.store import Store
from oracle.measure.work import check_same_unit, open_work_sources

log = logging.getLogger("ecoai.oracle")
GRACE_S = 10.0  # longest wait for a busy machine's readers to store an epoch's last readings
UNMEASURED_ENERGY = {"replay": "replayed", "cpu": "estimated"}  # energy source name -> kind it reports


def energy_kind(source: object) -> str:
    return UNMEASURED_ENERGY.get(getattr(source, "name", ""), "measured")


def unmeasured_sources(energy: Sequence[object], work: Sequence[object]) -> list[str]:
    """Names of the sources whose readings are not measured (replayed trace, CPU estimate)."""
    out = [f"energy {getattr(s, 'name', s)} ({energy_kind(s)})" for s in energy if energy_kind(s) != "measured"]
    out += [f"work {getattr(s, 'counter', s)} ({s.kind})" for s in work if getattr(s, "kind", "measured") != "measured"]
    return out


class Footprint:
    """The node's own energy (sampling, proving, submitting), estimated from the CPU time of this process and
    its children (the prover worker) × the CPU's TDP share per core (oracle.measure.cpu's TDP table). Labelled
    estimated: a CPU's power is not proportional to busy time, but the order of magnitude is honest."""

    def __init__(self) -> None:
        from oracle.measure.tdp import DEFAULT_CPU_TDP_W, cpu_model_name, cpu_tdp

        model = cpu_model_name()
        found = cpu_tdp(model)
        self.tdp_w = found.watts if found is not None else DEFAULT_CPU_TDP_W
        self.cores = psutil.cpu_count() or 1
        self.method = f"estimated: process CPU time x {self.tdp_w:g} W TDP / {self.cores} cores"
        self._proc = psutil.Process(os.getpid())
        self._last = self.cpu_seconds()

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in [self._proc, *self._safe_children()]:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def _safe_children(self) -> list[psutil.Process]:
        """The node's prover worker(s) only: `ecoai up` also parents anvil and the web app, which are not the
        node's footprint."""
        out = []
        try:
            children = self._proc.children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            try:
                if any("prover_worker" in part for part in child.cmdline()):
                    out.append(child)
            except psutil.Error:
                continue
        return out

    def take_mj(self) -> int:
        """mJ spent since the previous call (children that exited since are not counted: a lower bound)."""
        now = self.cpu_seconds()
        spent, self._last = max(0.0, now - self._last), now
        return round(spent * self.tdp_w / self.cores * 1000)


class StoreMeter:
    """Energy and work of each epoch from the node's own store (see the module docstring)."""

    def __init__(self, sources: Sequence[str], sample_hz: float, store: Store | None = None,
                 sinks: Sequence[Sink] = (), work_sources: Sequence[str] = ("replay",),
                 boundaries: Callable[[float], float] | None = None, allow_unmeasured: bool = True,
                 replay_offset_s: float = 0.0) -> None:
        self.store = store or Store()
        try:
            self.sources = open_sources(list(sources), replay_stand_in=allow_unmeasured,
                                        replay_offset_s=replay_offset_s)
        except SourceUnavailable as exc:
            raise UsageError(f"config field measure.sources: {exc}") from None
        try:
            self.work = open_work_sources(list(work_sources), store=self.store, energy_sources=self.sources,
                                          replay_offset_s=replay_offset_s)
            self.work_unit = check_same_unit(self.work)
        except (SourceUnavailable, WorkUnitMismatch) as exc:
            self.close_sources()
            raise UsageError(f"config field measure.work_sources: {exc}") from None
        unmeasured = unmeasured_sources(self.sources, self.work)
        if unmeasured and not allow_unmeasured:
            self.close_sources()
            raise UsageError(
                "config field measure.allow_unmeasured: this network is not a local loopback chain and the node "
                f"would prove {', '.join(unmeasured)} as its own; use measured sources (nvml, rapl; a serving "
                "engine's /metrics or a work: counter) or set allow_unmeasured = true to say so explicitly "
                "(the methods are public on chain either way)")
        counters, polled = split_counter_sources(self.sources)
        interval = 1.0 / sample_hz
        # The store first: readings are durable before anything else sees them.
        self.sampler = (Sampler(polled, sinks=[self.store.sink, *sinks], interval_s=interval,
                                flush_interval_s=interval) if polled else None)
        self.reader = CounterReader([*counters, *self.work], sinks=[self.store.sink, *sinks],
                                    boundaries=boundaries) if (counters or self.work) else None
        self.polled_devices = [d for s in polled for d in s.devices()]
        self.devices = [d for s in self.sources for d in s.devices()]
        self.work_counters = [w.counter for w in self.work]
        self._threads: list[threading.Thread] = []
        kinds = ", ".join(f"{s.name} ({energy_kind(s)})" for s in self.sources)
        works = ", ".join(f"{w.counter} ({w.kind}, unit {w.unit})" for w in self.work) or "none"
        log.info("measuring energy with %s (boundary reads: %s; %s) and work with %s", kinds,
                 ", ".join(s.name for s in counters) or "none",
                 f"10 Hz sampler: {', '.join(s.name for s in polled)}" if polled else "no 10 Hz sampler", works)

    @property
    def kinds(self) -> dict[str, str]:
        return {"energy": ",".join(sorted({energy_kind(s) for s in self.sources})),
                "work": ",".join(sorted({w.kind for w in self.work}))}

    def start(self) -> None:
        if self._threads:
            return
        if self.sampler is not None:
            self._threads.append(self.sampler.start_background())
        if self.reader is not None:
            self._threads.append(self.reader.start_background())

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.reader is not None:
            self.reader.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self.close_sources()

    def close_sources(self) -> None:
        for source in [*self.sources, *getattr(self, "work", [])]:
            try:
                source.close()
            except Exception:  # noqa: BLE001 - closing must not mask the reason we stop
                pass

    def settle_s(self) -> float:
        return (2 / 10 if self.sampler is None else 2 * self.sampler.interval_s) + 0.05

    def ready(self, end_s: float, now: float) -> bool:
        """True once every source has a stored reading reaching `end_s` (or, past a grace period, regardless:
        a source that stopped reporting leaves a recorded gap instead of holding the epoch open forever)."""
        if now >= end_s + GRACE_S:
            return True
        if self.reader is not None and not self.reader.reached(end_s):
            return False
        if not self.polled_devices:
            return True
        reached = {r.device for r in self.store.readings(end_s - 1e-3, float("inf")) if r.t_end >= end_s - 1e-6}
        return reached >= set(self.polled_devices)

    def epoch_energy(self, epoch: int, start_s: float, end_s: float) -> EpochEnergy:
        return self.store.record_epoch(epoch, start_s, end_s, N_INTERVALS, devices=self.devices,
                                       work_counters=self.work_counters, work_unit=self.work_unit)
