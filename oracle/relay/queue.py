"""The relay's durable queue of proofs and batch transactions, in SQLite (WAL) under the relay's state folder.

Every transition is one committed transaction, written *before* the step that depends on it, so a relay killed
anywhere resumes from the last recorded state and never sends a second transaction for the same items:

    item:   queued ──batch signed──▶ batched ──receipt, status 1──▶ settled   (tx hash, block)
              │                        └──batch reverted / nonce taken──▶ queued   (offenders found by dry run)
              ├──▶ settled   (already accepted on chain by another transaction: tx_hash NULL, note says so)
              └──▶ failed    (GreenProof refuses it for good: reason = custom error and its arguments)
    batch:  sending (nonce, raw signed tx, hash stored before broadcast) ──▶ settled | reverted | dropped

At most one batch is `sending` at a time: the relay signs the next batch only once the last one is resolved.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from oracle.conventions import Submission
from oracle.sqlite import connect, transaction

QUEUED, BATCHED, SETTLED, FAILED = "queued", "batched", "settled", "failed"
ITEM_STATES = (QUEUED, BATCHED, SETTLED, FAILED)
SENDING, REVERTED, DROPPED = "sending", "reverted", "dropped"
BATCH_STATES = (SENDING, SETTLED, REVERTED, DROPPED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_items (
    node           TEXT    NOT NULL,     -- checksummed address
    epoch          INTEGER NOT NULL,
    tier           INTEGER NOT NULL,
    work           INTEGER NOT NULL,
    methods        INTEGER NOT NULL,
    commitment     TEXT    NOT NULL,     -- decimal (a field element does not fit SQLite's INTEGER)
    proof          TEXT    NOT NULL,     -- JSON uint256[8] as decimal strings, as submitBatch takes it
    public_signals TEXT    NOT NULL,     -- JSON list of the 6 decimal public signals
    status         TEXT    NOT NULL,
    batch_id       INTEGER,
    reason         TEXT,
    tx_hash        TEXT,
    block          INTEGER,
    received_at    REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    PRIMARY KEY (node, epoch)
);
CREATE INDEX IF NOT EXISTS relay_items_status ON relay_items (status, received_at);
CREATE TABLE IF NOT EXISTS relay_batches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    status     TEXT    NOT NULL,
    nonce      INTEGER NOT NULL,
    raw_tx     TEXT    NOT NULL,         -- signed transaction, hex; stored before broadcast
    tx_hash    TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    gas_used   INTEGER,
    block      INTEGER,
    note       TEXT,
    created_at REAL    NOT NULL,
    updated_at REAL    NOT NULL
);
"""


class QueueError(Exception):
    """A transition from a state the row is not in (a bug, or two relays sharing one queue)."""


@dataclass(frozen=True)
class Item(Submission):
    """A handed-over submission, its 6 public signals as the node sent them, and where it stands in the queue."""

    public_signals: list[str]
    status: str = QUEUED
    batch_id: int | None = None
    reason: str | None = None
    tx_hash: str | None = None
    block: int | None = None
    received_at: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return self.node, self.epoch

    @classmethod
    def from_row(cls, row) -> Item:
        return cls(row["node"], row["epoch"], row["tier"], row["work"], row["methods"], int(row["commitment"]),
                   [int(x) for x in json.loads(row["proof"])], list(json.loads(row["public_signals"])),
                   row["status"], row["batch_id"], row["reason"], row["tx_hash"], row["block"], row["received_at"])

    def public(self) -> dict:
        """What the HTTP API shows of an item (everything but the proof words)."""
        return {"node": self.node, "epoch": self.epoch, "tier": self.tier, "work": self.work,
                "methods": self.methods, "commitment": str(self.commitment), "status": self.status,
                "batch_id": self.batch_id, "reason": self.reason, "tx_hash": self.tx_hash, "block": self.block}


@dataclass(frozen=True)
class Batch:
    id: int
    status: str
    nonce: int
    raw_tx: str
    tx_hash: str
    size: int
    gas_used: int | None
    block: int | None
    note: str | None
    created_at: float

    @classmethod
    def from_row(cls, row) -> Batch:
        return cls(row["id"], row["status"], row["nonce"], row["raw_tx"], row["tx_hash"], row["size"],
                   row["gas_used"], row["block"], row["note"], row["created_at"])


class RelayQueue:
    """One SQLite file; every method is one committed transaction. Thread-safe (the HTTP intake and the settler
    share it): one lock around the connection, since a sqlite3 connection must not interleave transactions."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = connect(path, synchronous="FULL")  # a recorded step survives power loss, not just a crash
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, node: str, epoch: int) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM relay_items WHERE node = ? AND epoch = ?", (node, epoch)).fetchone()
        return None if row is None else Item.from_row(row)

    def items(self, status: str | None = None, limit: int | None = None, batch_id: int | None = None) -> list[Item]:
        """Items in arrival order, optionally of one status and/or one batch."""
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        sql = "SELECT * FROM relay_items" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY received_at, node, epoch" + (f" LIMIT {int(limit)}" if limit is not None else "")
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Item.from_row(row) for row in rows]

    def oldest_queued_at(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(received_at) FROM relay_items WHERE status = ?", (QUEUED,)).fetchone()
        return row[0]

    def open_batch(self) -> Batch | None:
        """The batch whose transaction is signed but not resolved (at most one)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM relay_batches WHERE status = ? ORDER BY id LIMIT 1",
                                   (SENDING,)).fetchone()
        return None if row is None else Batch.from_row(row)

    def batch(self, batch_id: int) -> Batch | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM relay_batches WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else Batch.from_row(row)

    def batches(self) -> list[Batch]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM relay_batches ORDER BY id").fetchall()
        return [Batch.from_row(row) for row in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """{"items": {state: n}, "batches": {state: n}}, every state present."""
        with self._lock:
            items = dict(self._db.execute("SELECT status, COUNT(*) FROM relay_items GROUP BY status").fetchall())
            batches = dict(self._db.execute("SELECT status, COUNT(*) FROM relay_batches GROUP BY status").fetchall())
        return {"items": {s: int(items.get(s, 0)) for s in ITEM_STATES},
                "batches": {s: int(batches.get(s, 0)) for s in BATCH_STATES}}

    # -- transitions ---------------------------------------------------------------------------------------
    def add(self, item: Item) -> tuple[bool, Item]:
        """Queue a checked proof. (True, the item) when new; (False, the stored item) when (node, epoch) is
        already known, whatever its state: handing the same epoch over twice is idempotent."""
        now = time.time()
        with self._lock, transaction(self._db) as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO relay_items (node, epoch, tier, work, methods, commitment, proof,"
                " public_signals, status, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.node, item.epoch, item.tier, item.work, item.methods, str(item.commitment),
                 json.dumps([str(int(x)) for x in item.proof]), json.dumps([str(s) for s in item.public_signals]),
                 QUEUED, now, now))
            created = cursor.rowcount == 1
            row = db.execute("SELECT * FROM relay_items WHERE node = ? AND epoch = ?",
                             (item.node, item.epoch)).fetchone()
        return created, Item.from_row(row)

    def _move(self, db, key: tuple[str, int], expect: Sequence[str], **values) -> None:
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in expect)
        cursor = db.execute(
            f"UPDATE relay_items SET {assignments} WHERE node = ? AND epoch = ? AND status IN ({marks})",
            (*values.values(), *key, *expect))
        if cursor.rowcount != 1:
            raise QueueError(f"{key[0]} epoch {key[1]}: not in state {'/'.join(expect)}, cannot move to "
                             f"{values.get('status')}")

    def fail(self, key: tuple[str, int], reason: str) -> None:
        """GreenProof refuses this item for good."""
        with self._lock, transaction(self._db) as db:
            self._move(db, key, (QUEUED,), status=FAILED, reason=reason)

    def settled_elsewhere(self, key: tuple[str, int], note: str) -> None:
        """The epoch is already accepted on chain, by a transaction that is not this relay's."""
        with self._lock, transaction(self._db) as db:
            self._move(db, key, (QUEUED,), status=SETTLED, reason=note)

    def record_batch(self, keys: Iterable[tuple[str, int]], nonce: int, raw_tx: str, tx_hash: str) -> int:
        """The batch's signed transaction is durable, and its items are `batched`, before it is broadcast: a
        restart rebroadcasts these same bytes (same nonce) and never signs a second transaction for them."""
        keys = list(keys)
        now = time.time()
        with self._lock, transaction(self._db) as db:
            if db.execute("SELECT 1 FROM relay_batches WHERE status = ?", (SENDING,)).fetchone():
                raise QueueError("a batch is still being sent; resolve it before signing another")
            cursor = db.execute(
                "INSERT INTO relay_batches (status, nonce, raw_tx, tx_hash, size, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (SENDING, nonce, raw_tx, tx_hash, len(keys), now, now))
            batch_id = int(cursor.lastrowid)
            for key in keys:
                self._move(db, key, (QUEUED,), status=BATCHED, batch_id=batch_id, reason=None)
        return batch_id

    def _close_batch(self, db, batch_id: int, status: str, **values) -> None:
        assignments = ", ".join(f"{name} = ?" for name in ("status", "updated_at", *values))
        cursor = db.execute(f"UPDATE relay_batches SET {assignments} WHERE id = ? AND status = ?",
                            (status, time.time(), *values.values(), batch_id, SENDING))
        if cursor.rowcount != 1:
            raise QueueError(f"batch {batch_id} is not {SENDING}, cannot mark it {status}")

    def settle_batch(self, batch_id: int, tx_hash: str, block: int, gas_used: int) -> None:
        """The batch's transaction was mined with status 1: every item of it is accepted (all-or-nothing)."""
        with self._lock, transaction(self._db) as db:
            self._close_batch(db, batch_id, SETTLED, block=block, gas_used=gas_used)
            db.execute("UPDATE relay_items SET status = ?, tx_hash = ?, block = ?, updated_at = ?"
                       " WHERE batch_id = ? AND status = ?", (SETTLED, tx_hash, block, time.time(), batch_id, BATCHED))

    def release_batch(self, batch_id: int, status: str, note: str) -> None:
        """The batch's transaction reverted (status 0) or can never be mined (its nonce went to another
        transaction): its items are queued again, to be re-checked and sent in a new batch."""
        if status not in (REVERTED, DROPPED):
            raise ValueError(f"release_batch: status must be {REVERTED} or {DROPPED}, got {status!r}")
        with self._lock, transaction(self._db) as db:
            self._close_batch(db, batch_id, status, note=note)
            db.execute("UPDATE relay_items SET status = ?, batch_id = NULL, updated_at = ?"
                       " WHERE batch_id = ? AND status = ?", (QUEUED, time.time(), batch_id, BATCHED))
