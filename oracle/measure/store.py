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

Work (schema version 2): `work_readings` / `work_gaps` hold what the work meters read at interval boundaries
(written through the same sink, batched the same way); `work_counters` holds the running total of each local
work counter and `work_log` every addition to it (`work_add`, one durable transaction each, from any process).
`record_epoch` closes an epoch into N (energy_mj, work_units) pairs. Opening a version-1 file adds the new
tables and the epochs' work columns in place; no reading or epoch is touched.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from oracle.conventions import N_INTERVALS
from oracle.measure.epoch import EpochEnergy, aggregate, aggregate_work
from oracle.measure.reading import Gap, Reading, WorkGap, WorkReading, WorkUnitMismatch
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
CREATE TABLE IF NOT EXISTS work_readings (
    id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, counter TEXT NOT NULL,
    source TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL, units INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS work_readings_t_end ON work_readings (t_end);
CREATE TABLE IF NOT EXISTS work_gaps (
    id INTEGER PRIMARY KEY, t_start REAL NOT NULL, t_end REAL NOT NULL, counter TEXT NOT NULL,
    source TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS work_gaps_t_end ON work_gaps (t_end);
CREATE TABLE IF NOT EXISTS work_counters (
    name TEXT PRIMARY KEY, unit TEXT NOT NULL, total INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS work_log (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL);
"""
SCHEMA_VERSION = 2
# Columns added to `epochs` by version 2 (queries such as "work per epoch" need not parse the JSON record).
_EPOCH_WORK_COLUMNS = (("work_total", "INTEGER"), ("work_unit", "TEXT"), ("work_method", "TEXT"))
MAX_WORK_ADD = 2**53  # one addition; larger is a bug in the caller, not work


def default_path() -> Path:
    """`ecoai measure`'s store: a scratch store for looking at energy by hand, never what the node proves."""
    return state_dir() / "measure.sqlite"


def node_store_path() -> Path:
    """The node's own store: its readings, its closed epochs and the work counters jobs add to (`ecoai work`).
    Apart from `ecoai measure`'s store so that another process writing readings under the same device names can
    never change the energy of an epoch the node proves."""
    return state_dir() / "node" / "measure.sqlite"


_INSERT_READING = ("INSERT INTO readings (t_start, t_end, device, source, method, kind, energy_mj, context) "
                   "VALUES (?,?,?,?,?,?,?,?)")
_INSERT_GAP = "INSERT INTO gaps (t_start, t_end, device, source, reason) VALUES (?,?,?,?,?)"
_INSERT_WORK = ("INSERT INTO work_readings (t_start, t_end, counter, source, kind, unit, units) "
                "VALUES (?,?,?,?,?,?,?)")
_INSERT_WORK_GAP = "INSERT INTO work_gaps (t_start, t_end, counter, source, reason) VALUES (?,?,?,?,?)"
AnyItem = Reading | Gap | WorkReading | WorkGap


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


def _rows(items: Iterable[AnyItem]) -> tuple[list[tuple[object, ...]], ...]:
    readings, gaps, work, work_gaps = [], [], [], []
    for it in items:
        if isinstance(it, Reading):
            readings.append((it.t_start, it.t_end, it.device, it.source, it.method, it.kind, it.energy_mj,
                             _context_json(it.context) if it.context else None))
        elif isinstance(it, Gap):
            gaps.append((it.t_start, it.t_end, it.device, it.source, it.reason))
        elif isinstance(it, WorkReading):
            work.append((it.t_start, it.t_end, it.counter, it.source, it.kind, it.unit, it.units))
        else:
            work_gaps.append((it.t_start, it.t_end, it.counter, it.source, it.reason))
    return readings, gaps, work, work_gaps


def _migrate(db: object) -> None:
    """Bring a store file to SCHEMA_VERSION in place: new tables (CREATE IF NOT EXISTS) and the epochs' work
    columns. In one write transaction, so two processes opening an old file at once cannot both add a column."""
    db.executescript(SCHEMA)  # type: ignore[attr-defined]
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:  # type: ignore[attr-defined]
        return
    with transaction(db):  # type: ignore[arg-type]
        have = {row[1] for row in db.execute("PRAGMA table_info(epochs)")}  # type: ignore[attr-defined]
        for name, sql_type in _EPOCH_WORK_COLUMNS:
            if name not in have:
                db.execute(f"ALTER TABLE epochs ADD COLUMN {name} {sql_type}")  # type: ignore[attr-defined]
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # type: ignore[attr-defined]


class StoreSink:
    """The sampler's sink for a Store: cheap per call (one list extend); commits once per `commit_interval_s`
    of sample time, and durably on `flush()` (which the sampler calls when a run ends)."""

    def __init__(self, store: Store, commit_interval_s: float) -> None:
        self._store = store
        self.commit_interval_s = commit_interval_s
        self._next_commit: float | None = None

    def __call__(self, items: list[AnyItem], now: float) -> None:
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
        self._pending: list[AnyItem] = []  # handed over by the sampler, not yet committed
        self._unsynced = False  # a batch commit since the last fsync
        self._db = connect(self.path, synchronous="NORMAL")  # batch commits; durable points switch to FULL
        _migrate(self._db)
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
    def append(self, items: Iterable[AnyItem]) -> int:
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
        readings, gaps, work, work_gaps = _rows(self._pending)
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        try:
            with transaction(db):  # on an error it rolls back and the items stay pending: never dropped
                if readings:
                    db.executemany(_INSERT_READING, readings)
                if gaps:
                    db.executemany(_INSERT_GAP, gaps)
                if work:
                    db.executemany(_INSERT_WORK, work)
                if work_gaps:
                    db.executemany(_INSERT_WORK_GAP, work_gaps)
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
                  devices: Iterable[str] | None = None, work_counters: Iterable[str] | None = None,
                  work_unit: str | None = None) -> EpochEnergy:
        """N integer-mJ interval energies and N work counts of [t0, t1) with methods and gaps (read-only)."""
        work = aggregate_work(self.work_readings(t0, t1), self.work_gaps(t0, t1), t0, t1, n, work_counters,
                              work_unit)
        return aggregate(self.readings(t0, t1), self.gaps(t0, t1), t0, t1, n, epoch, devices, work)

    # -- work --------------------------------------------------------------------------------------------
    def work_readings(self, t0: float, t1: float, counter: str | None = None) -> list[WorkReading]:
        """Work readings overlapping [t0, t1), oldest first."""
        sql = ("SELECT t_start, t_end, counter, source, kind, unit, units FROM work_readings "
               "WHERE t_end > ? AND t_start < ?")
        args: list[object] = [t0, t1]
        if counter is not None:
            sql += " AND counter = ?"
            args.append(counter)
        with self._lock:
            self._commit_pending(durable=False)
            rows = self._db.execute(sql + " ORDER BY t_start, id", args).fetchall()
        return [WorkReading(*row) for row in rows]

    def work_gaps(self, t0: float, t1: float) -> list[WorkGap]:
        with self._lock:
            self._commit_pending(durable=False)
            rows = self._db.execute("SELECT t_start, t_end, counter, source, reason FROM work_gaps "
                                    "WHERE t_end > ? AND t_start < ? ORDER BY t_start, id", (t0, t1)).fetchall()
        return [WorkGap(*row) for row in rows]

    def work_add(self, name: str, unit: str, n: int, t: float | None = None) -> int:
        """Add n units to local work counter `name` (created with `unit` on first use); returns its new total.

        One durable transaction (fsync) holding the log row and the running total, so a job that was told
        "added" never loses it, and a crash never half-applies it. Any process may add; SQLite queues writers.
        """
        if type(n) is not int or not 0 <= n <= MAX_WORK_ADD:
            raise ValueError(f"work to add must be a whole number from 0 to 2^53, got {n!r}")
        t = time.time() if t is None else t
        with self._lock:
            self._commit_pending(durable=False)
            db = self._db
            db.execute("PRAGMA synchronous=FULL")
            try:
                with transaction(db):
                    row = db.execute("SELECT unit FROM work_counters WHERE name = ?", (name,)).fetchone()
                    if row is not None and row[0] != unit:
                        raise WorkUnitMismatch(f"work counter {name!r} counts {row[0]!r}, not {unit!r}")
                    db.execute("INSERT INTO work_log (t, name, n) VALUES (?,?,?)", (t, name, n))
                    db.execute("INSERT INTO work_counters (name, unit, total, updated) VALUES (?,?,?,?) "
                               "ON CONFLICT(name) DO UPDATE SET total = total + excluded.total, "
                               "updated = excluded.updated", (name, unit, n, t))
                    total = db.execute("SELECT total FROM work_counters WHERE name = ?", (name,)).fetchone()[0]
            finally:
                db.execute("PRAGMA synchronous=NORMAL")
        return int(total)

    def work_total(self, name: str) -> tuple[int, str | None]:
        """(running total, unit) of local work counter `name`; (0, None) before its first add."""
        with self._lock:
            row = self._db.execute("SELECT total, unit FROM work_counters WHERE name = ?", (name,)).fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def work_counter_names(self) -> list[tuple[str, str, int]]:
        """(name, unit, total) of every local work counter."""
        with self._lock:
            rows = self._db.execute("SELECT name, unit, total FROM work_counters ORDER BY name").fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    # -- epochs ----------------------------------------------------------------------------------------
    def record_epoch(self, epoch: int, t0: float, t1: float, n: int = N_INTERVALS,
                     devices: Iterable[str] | None = None, work_counters: Iterable[str] | None = None,
                     work_unit: str | None = None) -> EpochEnergy:
        """Aggregate and record epoch `epoch` once; a second call returns the recorded result unchanged.

        The record holds the N (energy_mj, work_units) pairs: `devices` are the energy devices and
        `work_counters` the work counters expected over [t0, t1) (a span one of them did not cover is a gap);
        `work_unit` the unit they count (raises WorkUnitMismatch when a reading counts another).
        """
        existing = self.epoch(epoch)
        if existing is not None:
            return existing
        result = self.aggregate(t0, t1, n, epoch, devices, work_counters, work_unit)
        with self._lock:
            # Durable: every reading the record was computed from is on disk before the record is.
            self._commit_pending(durable=True)
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("INSERT OR IGNORE INTO epochs (epoch, t0, t1, total_mj, complete, record, "
                                 "closed_at, work_total, work_unit, work_method) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 (epoch, t0, t1, result.total_mj, int(result.complete),
                                  json.dumps(result.to_dict()), time.time(), result.work_total, result.work_unit,
                                  result.work_method))
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
