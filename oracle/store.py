"""SQLite store (WAL, synchronous=FULL) of energy readings, gaps and closed epochs, under the state folder.

The sampler appends through `Store.sink`; every `append` is committed before it returns, so the oracle can
act on an epoch knowing its readings are on disk. `close_epoch` aggregates [t0, t1) into the N integer-mJ
interval energies the circuit takes (see oracle.measure.epoch) and records the result once; closing it
again returns the stored record unchanged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from oracle.measure.epoch import N_INTERVALS, EpochEnergy, aggregate
from oracle.measure.reading import Gap, Item, Reading
from oracle.paths import state_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, device TEXT NOT NULL,
    source TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, energy_mj REAL NOT NULL, context TEXT);
CREATE INDEX IF NOT EXISTS readings_t_end ON readings (t_end);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, device TEXT NOT NULL,
    source TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gaps_t_end ON gaps (t_end);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY, t0 REAL NOT NULL, t1 REAL NOT NULL, total_mj INTEGER NOT NULL,
    complete INTEGER NOT NULL, record TEXT NOT NULL, closed_at REAL NOT NULL);
"""


def default_path() -> Path:
    return state_dir() / "measure.sqlite"


class Store:
    """Readings, gaps and epochs in one SQLite file. Thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # committed readings survive a crash or power loss
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, items: Iterable[Item]) -> int:
        """Store readings and gaps in one transaction, committed before returning; returns how many."""
        readings, gaps = [], []
        for it in items:
            if isinstance(it, Reading):
                readings.append((it.t_start, it.t_end, it.device, it.source, it.method, it.kind, it.energy_mj,
                                 json.dumps(it.context) if it.context else None))
            else:
                gaps.append((it.t_start, it.t_end, it.device, it.source, it.reason))
        if not readings and not gaps:
            return 0
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO readings (t_start, t_end, device, source, method, kind, "
                                     "energy_mj, context) VALUES (?,?,?,?,?,?,?,?)", readings)
                self._db.executemany("INSERT INTO gaps (t_start, t_end, device, source, reason) VALUES (?,?,?,?,?)",
                                     gaps)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(readings) + len(gaps)

    def sink(self, items: list[Item], now: float) -> None:
        """Sampler sink: append (durably)."""
        self.append(items)

    # -- reading ---------------------------------------------------------------------------------------
    def readings(self, t0: float, t1: float, device: str | None = None) -> list[Reading]:
        """Readings overlapping [t0, t1), oldest first."""
        sql = ("SELECT t_start, t_end, device, source, method, kind, energy_mj, context FROM readings "
               "WHERE t_end > ? AND t_start < ?")
        args: list[object] = [t0, t1]
        if device is not None:
            sql += " AND device = ?"
            args.append(device)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY t_start, id", args).fetchall()
        return [Reading(a, b, d, s, m, k, e, json.loads(c) if c else {}) for a, b, d, s, m, k, e, c in rows]

    def gaps(self, t0: float, t1: float) -> list[Gap]:
        with self._lock:
            rows = self._db.execute("SELECT t_start, t_end, device, source, reason FROM gaps "
                                    "WHERE t_end > ? AND t_start < ? ORDER BY t_start, id", (t0, t1)).fetchall()
        return [Gap(*row) for row in rows]

    def aggregate(self, t0: float, t1: float, n: int = N_INTERVALS, epoch: int | None = None,
                  devices: Iterable[str] | None = None) -> EpochEnergy:
        """N integer-mJ interval energies of [t0, t1) with methods and gaps (read-only; records nothing)."""
        return aggregate(self.readings(t0, t1), self.gaps(t0, t1), t0, t1, n, epoch, devices)

    # -- epochs ----------------------------------------------------------------------------------------
    def close_epoch(self, epoch: int, t0: float, t1: float, n: int = N_INTERVALS,
                    devices: Iterable[str] | None = None) -> EpochEnergy:
        """Aggregate and record epoch `epoch` once; a second call returns the recorded result unchanged."""
        existing = self.epoch(epoch)
        if existing is not None:
            return existing
        result = self.aggregate(t0, t1, n, epoch, devices)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO epochs (epoch, t0, t1, total_mj, complete, record, closed_at) "
                             "VALUES (?,?,?,?,?,?,?)", (epoch, t0, t1, result.total_mj, int(result.complete),
                                                        json.dumps(result.to_dict()), time.time()))
        stored = self.epoch(epoch)
        assert stored is not None
        return stored

    def epoch(self, epoch: int) -> EpochEnergy | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM epochs WHERE epoch = ?", (epoch,)).fetchone()
        return EpochEnergy.from_dict(json.loads(row[0])) if row else None

    def epochs(self, first: int | None = None, last: int | None = None) -> list[EpochEnergy]:
        """Closed epochs with first <= epoch <= last (either bound optional), in order."""
        lo = first if first is not None else -(2**63)
        hi = last if last is not None else 2**63 - 1
        with self._lock:
            rows = self._db.execute("SELECT record FROM epochs WHERE epoch BETWEEN ? AND ? ORDER BY epoch",
                                    (lo, hi)).fetchall()
        return [EpochEnergy.from_dict(json.loads(r[0])) for r in rows]
