"""SQLite store (WAL, opened with oracle.sqlite) of energy readings, gaps and closed epochs, under the state folder.

Durability, and why it is batched: a commit costs ~40-300 us of CPU (more with an fsync), which at 10 Hz
alone would exceed the sampler's budget of 0.1 % of one core. So:

- `Store.sink` (the sampler's sink) keeps items in memory and commits them in one transaction once per
  `commit_interval_s` (1 s) of sample time, with `synchronous=NORMAL`: such a commit survives a killed
  process but not necessarily a power loss (WAL frames not yet fsynced). A killed process therefore loses
  at most the last second of readings and a power loss at most those since the last durable commit; in
  both cases the span becomes a "no reading" gap on aggregation, never an invented number, and the WAL
  keeps the file consistent (only a suffix of transactions can be lost, nothing is corrupted).
- Every read (`readings`, `gaps`, `aggregate`, `record_epoch`, `epoch(s)`) first commits what the sink
  holds, so nothing in this process ever acts on readings that are not in SQLite.
- Durable commits (`synchronous=FULL`: fsync of the WAL, which also makes every earlier commit durable):
  `append`, `record_epoch`, `flush`, `close`, and the end of every sampler run (`Sampler` calls
  `sink.flush()` when `run_until` returns or the loop stops). So an epoch's readings are on disk before
  its record is, and before the node acts on it.

`record_epoch` aggregates [t0, t1) into the N integer-mJ interval energies the circuit takes (see
oracle.measure.epoch) and records the result once; closing it again returns the stored record unchanged.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from oracle.conventions import N_INTERVALS
from oracle.measure.epoch import EpochEnergy, aggregate
from oracle.measure.reading import Gap, Item, Reading
from oracle.paths import state_dir
from oracle.sqlite import connect, transaction

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


_INSERT_READING = ("INSERT INTO readings (t_start, t_end, device, source, method, kind, energy_mj, context) "
                   "VALUES (?,?,?,?,?,?,?,?)")
_INSERT_GAP = "INSERT INTO gaps (t_start, t_end, device, source, reason) VALUES (?,?,?,?,?)"


_JSON_KEYS: dict[str, str] = {}


def _context_json(context: dict[str, float]) -> str:
    """json.dumps of a reading's context, ~5x faster for the usual {name: finite float} (same text)."""
    parts = []
    for key, value in context.items():
        if type(value) is not float or not math.isfinite(value) or type(key) is not str:
            return json.dumps(context)
        quoted = _JSON_KEYS.get(key)
        if quoted is None:
            quoted = _JSON_KEYS[key] = json.dumps(key)
        parts.append(f"{quoted}: {value!r}")
    return "{" + ", ".join(parts) + "}"


def _rows(items: Iterable[Item]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    readings, gaps = [], []
    for it in items:
        if isinstance(it, Reading):
            readings.append((it.t_start, it.t_end, it.device, it.source, it.method, it.kind, it.energy_mj,
                             _context_json(it.context) if it.context else None))
        else:
            gaps.append((it.t_start, it.t_end, it.device, it.source, it.reason))  # type: ignore[union-attr]
    return readings, gaps


class StoreSink:
    """The sampler's sink for a Store: cheap per call (one list extend); commits once per `commit_interval_s`
    of sample time, and durably on `flush()` (which the sampler calls when a run ends)."""

    def __init__(self, store: Store, commit_interval_s: float) -> None:
        self._store = store
        self.commit_interval_s = commit_interval_s
        self._next_commit: float | None = None

    def __call__(self, items: list[Item], now: float) -> None:
        store = self._store
        with store._lock:
            store._pending.extend(items)
            if self._next_commit is None:
                self._next_commit = now + self.commit_interval_s
            elif now >= self._next_commit:
                self._next_commit = now + self.commit_interval_s
                store._commit_pending(durable=False)

    def flush(self) -> None:
        self._store.flush()


class Store:
    """Readings, gaps and epochs in one SQLite file. Thread-safe (one connection behind a lock).

    `sink` is the sampler's sink (batched commits, see the module docstring); `append` commits durably.
    """

    def __init__(self, path: Path | str | None = None, commit_interval_s: float = 1.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._pending: list[Item] = []  # handed over by the sampler, not yet committed
        self._unsynced = False  # a batch commit since the last fsync
        self._db = connect(self.path, synchronous="NORMAL")  # batch commits; durable points switch to FULL
        self._db.executescript(SCHEMA)
        self.sink = StoreSink(self, commit_interval_s)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._commit_pending(durable=True)
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def flush(self) -> None:
        """Commit what the sink holds, durably (fsync of the WAL: earlier batch commits become durable too)."""
        with self._lock:
            self._commit_pending(durable=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, items: Iterable[Item]) -> int:
        """Store readings and gaps (after any the sink holds) in one durable transaction, committed before
        returning; returns how many of `items` were stored."""
        items = list(items)
        with self._lock:
            self._pending.extend(items)
            self._commit_pending(durable=True)
        return len(items)

    def _commit_pending(self, durable: bool) -> None:
        """Write the pending items in one transaction (caller holds the lock). durable: fsync (FULL)."""
        db = self._db
        if not self._pending:
            if durable and self._unsynced:  # nothing to write: make the earlier batch commits durable
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._unsynced = False
            return
        readings, gaps = _rows(self._pending)
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        try:
            with transaction(db):  # on an error it rolls back and the items stay pending: never dropped
                if readings:
                    db.executemany(_INSERT_READING, readings)
                if gaps:
                    db.executemany(_INSERT_GAP, gaps)
            self._pending = []
            self._unsynced = not durable
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")

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
            self._commit_pending(durable=False)
            rows = self._db.execute(sql + " ORDER BY t_start, id", args).fetchall()
        return [Reading(a, b, d, s, m, k, e, json.loads(c) if c else {}) for a, b, d, s, m, k, e, c in rows]

    def gaps(self, t0: float, t1: float) -> list[Gap]:
        with self._lock:
            self._commit_pending(durable=False)
            rows = self._db.execute("SELECT t_start, t_end, device, source, reason FROM gaps "
                                    "WHERE t_end > ? AND t_start < ? ORDER BY t_start, id", (t0, t1)).fetchall()
        return [Gap(*row) for row in rows]

    def aggregate(self, t0: float, t1: float, n: int = N_INTERVALS, epoch: int | None = None,
                  devices: Iterable[str] | None = None) -> EpochEnergy:
        """N integer-mJ interval energies of [t0, t1) with methods and gaps (read-only; records nothing)."""
        return aggregate(self.readings(t0, t1), self.gaps(t0, t1), t0, t1, n, epoch, devices)

    # -- epochs ----------------------------------------------------------------------------------------
    def record_epoch(self, epoch: int, t0: float, t1: float, n: int = N_INTERVALS,
                     devices: Iterable[str] | None = None) -> EpochEnergy:
        """Aggregate and record epoch `epoch` once; a second call returns the recorded result unchanged."""
        existing = self.epoch(epoch)
        if existing is not None:
            return existing
        result = self.aggregate(t0, t1, n, epoch, devices)
        with self._lock:
            # Durable: every reading the record was computed from is on disk before the record is.
            self._commit_pending(durable=True)
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("INSERT OR IGNORE INTO epochs (epoch, t0, t1, total_mj, complete, record, "
                                 "closed_at) VALUES (?,?,?,?,?,?,?)",
                                 (epoch, t0, t1, result.total_mj, int(result.complete),
                                  json.dumps(result.to_dict()), time.time()))
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")
        stored = self.epoch(epoch)
        assert stored is not None
        return stored

    def epoch(self, epoch: int) -> EpochEnergy | None:
        with self._lock:
            self._commit_pending(durable=False)
            row = self._db.execute("SELECT record FROM epochs WHERE epoch = ?", (epoch,)).fetchone()
        return EpochEnergy.from_dict(json.loads(row[0])) if row else None

    def epochs(self, first: int | None = None, last: int | None = None) -> list[EpochEnergy]:
        """Closed epochs with first <= epoch <= last (either bound optional), in order."""
        lo = first if first is not None else -(2**63)
        hi = last if last is not None else 2**63 - 1
        with self._lock:
            self._commit_pending(durable=False)
            rows = self._db.execute("SELECT record FROM epochs WHERE epoch BETWEEN ? AND ? ORDER BY epoch",
                                    (lo, hi)).fetchall()
        return [EpochEnergy.from_dict(json.loads(r[0])) for r in rows]
