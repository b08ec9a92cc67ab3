"""The node's durable epoch state machine, in SQLite (WAL) under the state folder.

Each step writes its outcome here *before* the next step acts on it, so a process killed anywhere resumes
from the last recorded state:

    open ──close──▶ proving ──prove──▶ proved ──sign──▶ sending ──receipt──▶ accepted
      │               (tier, threshold and salt fixed)   (nonce, raw tx, hash fixed before broadcast)
      ├──▶ over_budget   (no tier fits: no proof, an alert)
      └──▶ incomplete    (the epoch has measurement gaps: proving it would hide energy)
    sending ──revert──▶ failed  (the contract refused it, with the reason)
    proved ──tiers changed on chain──▶ proved (same threshold, new index) | proving (new tier, same salt) | over_budget

`pending` = proving, proved or sending: the submission queue that drains whenever the RPC endpoint answers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPEN, PROVING, PROVED, SENDING, ACCEPTED = "open", "proving", "proved", "sending", "accepted"
OVER_BUDGET, INCOMPLETE, FAILED = "over_budget", "incomplete", "failed"
PENDING = (PROVING, PROVED, SENDING)
TERMINAL = (ACCEPTED, OVER_BUDGET, INCOMPLETE, FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS node_epochs (
    node          TEXT    NOT NULL,
    epoch         INTEGER NOT NULL,
    epoch_seconds INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    readings      TEXT,              -- JSON list of the N interval energies (mJ)
    energy_mj     INTEGER,
    gaps          TEXT,              -- JSON list of interval indexes without measurement
    methods       TEXT,              -- JSON list of method labels behind the readings
    tier          INTEGER,
    threshold_mj  INTEGER,
    salt          TEXT,              -- decimal; fixed before proving so a re-proof has the same commitment
    commitment    TEXT,
    proof         TEXT,              -- JSON uint256[8] (decimal strings) as GreenProof.submit takes it
    bundle        TEXT,              -- the prover's snarkjs JSON (proof + public signals)
    nonce         INTEGER,
    raw_tx        TEXT,              -- signed transaction, hex; stored before broadcast
    tx_hash       TEXT,
    gas_used      INTEGER,
    block         INTEGER,
    note          TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL,
    PRIMARY KEY (node, epoch)
);
"""


@dataclass(frozen=True)
class EpochRecord:
    node: str
    epoch: int
    epoch_seconds: int
    status: str
    readings: list[int] | None
    energy_mj: int | None
    gaps: list[int] | None
    methods: list[str] | None
    tier: int | None
    threshold_mj: int | None
    salt: int | None
    commitment: int | None
    proof: list[int] | None
    bundle: dict[str, Any] | None
    nonce: int | None
    raw_tx: str | None
    tx_hash: str | None
    gas_used: int | None
    block: int | None
    note: str | None
    attempts: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EpochRecord:
        def js(value: str | None) -> Any:
            return None if value is None else json.loads(value)

        def big(value: str | None) -> int | None:
            return None if value is None else int(value)

        proof = js(row["proof"])
        return cls(
            row["node"],
            row["epoch"],
            row["epoch_seconds"],
            row["status"],
            js(row["readings"]),
            row["energy_mj"],
            js(row["gaps"]),
            js(row["methods"]),
            row["tier"],
            row["threshold_mj"],
            big(row["salt"]),
            big(row["commitment"]),
            None if proof is None else [int(x) for x in proof],
            js(row["bundle"]),
            row["nonce"],
            row["raw_tx"],
            row["tx_hash"],
            row["gas_used"],
            row["block"],
            row["note"],
            row["attempts"],
        )


class NodeState:
    """One SQLite file; every method is one committed transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a recorded step survives power loss, not just a crash
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _update(self, node: str, epoch: int, expect: Sequence[str], **values: Any) -> None:
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{key} = ?" for key in values)
        marks = ", ".join("?" for _ in expect)
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE node_epochs SET {assignments} WHERE node = ? AND epoch = ? AND status IN ({marks})",
                (*values.values(), node, epoch, *expect),
            )
            if cursor.rowcount != 1:
                raise StateError(f"epoch {epoch}: no row in state {'/'.join(expect)} to move to {values.get('status')}")

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, node: str, epoch: int) -> EpochRecord | None:
        row = self._db.execute("SELECT * FROM node_epochs WHERE node = ? AND epoch = ?", (node, epoch)).fetchone()
        return None if row is None else EpochRecord.from_row(row)

    def with_status(self, node: str, statuses: Sequence[str]) -> list[EpochRecord]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT * FROM node_epochs WHERE node = ? AND status IN ({marks}) ORDER BY epoch", (node, *statuses)
        ).fetchall()
        return [EpochRecord.from_row(row) for row in rows]

    def nodes(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT node FROM node_epochs ORDER BY node")]

    def all(self, node: str) -> list[EpochRecord]:
        rows = self._db.execute("SELECT * FROM node_epochs WHERE node = ? ORDER BY epoch", (node,)).fetchall()
        return [EpochRecord.from_row(row) for row in rows]

    # -- transitions ---------------------------------------------------------------------------------------
    def open_epoch(self, node: str, epoch: int, epoch_seconds: int) -> bool:
        """Record that this epoch is being measured; False when it was already known."""
        now = time.time()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO node_epochs (node, epoch, epoch_seconds, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (node, epoch, epoch_seconds, OPEN, now, now),
            )
            return cursor.rowcount == 1

    def close_epoch(
        self,
        node: str,
        epoch: int,
        readings: Sequence[int],
        gaps: Sequence[int],
        methods: Sequence[str],
        tier: int | None,
        threshold_mj: int | None,
        salt: int | None,
        note: str,
    ) -> str:
        """Store the epoch's readings and the decision taken on them, in one step. Returns the new status."""
        if gaps:
            status = INCOMPLETE
        elif tier is None:
            status = OVER_BUDGET
        else:
            status = PROVING
        self._update(
            node,
            epoch,
            (OPEN,),
            status=status,
            readings=json.dumps(list(readings)),
            energy_mj=sum(readings),
            gaps=json.dumps(list(gaps)),
            methods=json.dumps(list(methods)),
            tier=tier,
            threshold_mj=threshold_mj,
            salt=None if salt is None else str(salt),
            note=note,
        )
        return status

    def record_proof(
        self, node: str, epoch: int, commitment: int, proof: Sequence[int], bundle: dict[str, Any]
    ) -> None:
        self._update(
            node,
            epoch,
            (PROVING,),
            status=PROVED,
            commitment=str(commitment),
            proof=json.dumps([str(x) for x in proof]),
            bundle=json.dumps(bundle),
        )

    def record_signed(self, node: str, epoch: int, nonce: int, raw_tx: str, tx_hash: str) -> None:
        """The signed transaction is durable before it is broadcast: a restart rebroadcasts the same bytes."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE node_epochs SET status = ?, nonce = ?, raw_tx = ?, tx_hash = ?,"
                " attempts = attempts + 1, updated_at = ? WHERE node = ? AND epoch = ? AND status = ?",
                (SENDING, nonce, raw_tx, tx_hash, time.time(), node, epoch, PROVED),
            )
            if cursor.rowcount != 1:
                raise StateError(f"epoch {epoch}: not in state {PROVED}, cannot record a signed transaction")

    def unsign(self, node: str, epoch: int, note: str) -> None:
        """The stored transaction can never be mined (its nonce went to another); sign afresh next time."""
        self._update(node, epoch, (SENDING,), status=PROVED, nonce=None, raw_tx=None, tx_hash=None, note=note)

    def retier(
        self, node: str, epoch: int, tier: int | None, threshold_mj: int | None, reprove: bool, note: str
    ) -> str:
        """Governance changed the class's tiers after this epoch was proved. Same threshold at another index:
        keep the proof (`reprove` False). Otherwise prove again at the new tier with the same salt (so the same
        commitment), or, when no tier fits any more, the epoch is over budget. Returns the new status."""
        if tier is None:
            status = OVER_BUDGET
        else:
            status = PROVING if reprove else PROVED
        values: dict[str, Any] = {"status": status, "tier": tier, "threshold_mj": threshold_mj, "note": note}
        if reprove or tier is None:
            values.update(commitment=None, proof=None, bundle=None)
        self._update(node, epoch, (PROVED,), **values)
        return status

    def record_accepted(
        self, node: str, epoch: int, tx_hash: str | None, gas_used: int | None, block: int | None, note: str
    ) -> None:
        self._update(
            node, epoch, (PROVED, SENDING), status=ACCEPTED, tx_hash=tx_hash, gas_used=gas_used, block=block, note=note
        )

    def record_failed(self, node: str, epoch: int, note: str) -> None:
        self._update(node, epoch, (OPEN, *PENDING), status=FAILED, note=note)

    def record_incomplete(self, node: str, epoch: int, note: str) -> None:
        self._update(node, epoch, (OPEN,), status=INCOMPLETE, note=note)


class StateError(RuntimeError):
    """A transition from a state the row is not in: a bug, never an expected fault."""
