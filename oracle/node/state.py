"""The node's durable epoch state machine, in SQLite (WAL) under the state folder.

Each step writes its outcome here *before* the next step acts on it, so a process killed anywhere resumes
from the last recorded state:

    open ──closed──▶ proving ──proof──▶ proved ──signed──▶ sending ──receipt──▶ accepted
      │                (tier, salt fixed)                     (nonce, raw tx, hash fixed before broadcast)
      ├──▶ over_budget   (energy per unit of work over every efficiency tier: no proof, an alert)
      ├──▶ zero_work     (no work was done: nothing to prove, zero work never earns)
      ├──▶ below_minimum (less work than the class's minimum per epoch: GreenProof would refuse it)
      └──▶ incomplete    (the epoch has energy or work gaps: proving it would hide energy or invent work)
    proved ──(batch)──▶ sending: several epochs share one signed submitBatch tx (same nonce, raw tx, hash)
    proved ──relay──▶ handed_over ──isAccepted──▶ accepted   (a relay settles it; the node watches the chain)
    sending ──reverted / nonce taken──▶ proved   (signed afresh on the next pass)
    accepted ──a reorg removed its tx──▶ sending (same signed tx) | proved
    proved ──tiers changed on chain──▶ proved (same tier value, new index) | proving (new tier, same salt) | over_budget
    open, proving, proved, sending ──▶ failed   (refused by GreenProof, given up after retries, epoch length changed)

`pending` = proving, proved or sending: the submission queue that drains whenever the RPC endpoint answers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.measure.epoch import EpochEnergy
from oracle.sqlite import connect, transaction

OPEN, PROVING, PROVED, SENDING, ACCEPTED = "open", "proving", "proved", "sending", "accepted"
OVER_BUDGET, INCOMPLETE, FAILED = "over_budget", "incomplete", "failed"
ZERO_WORK, BELOW_MINIMUM, HANDED_OVER = "zero_work", "below_minimum", "handed_over"
PENDING = (PROVING, PROVED, SENDING, HANDED_OVER)
TERMINAL = (ACCEPTED, OVER_BUDGET, INCOMPLETE, FAILED, ZERO_WORK, BELOW_MINIMUM)
NOT_PROVED = (OVER_BUDGET, INCOMPLETE, ZERO_WORK, BELOW_MINIMUM)  # closed without a proof, by decision

SCHEMA = """
CREATE TABLE IF NOT EXISTS node_epochs (
    node          TEXT    NOT NULL,
    epoch         INTEGER NOT NULL,
    epoch_seconds INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    intervals_mj  TEXT,              -- JSON list of the N interval energies (mJ)
    energy_mj     INTEGER,
    gaps          TEXT,              -- JSON list of interval indexes without measurement
    energy_by_method TEXT,           -- JSON {"source/method": mJ} behind the intervals
    energy_by_kind   TEXT,           -- JSON {"measured" | "estimated" | "replayed": mJ}
    tier          INTEGER,
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
    work_units    TEXT,              -- v2: JSON list of the N interval work counts (units)
    work_total    INTEGER,
    work_unit     TEXT,              -- "item", "token", ... (the class's unit)
    work_gaps     TEXT,              -- JSON list of interval indexes without a work reading
    energy_method TEXT,              -- measured | estimated | replayed (least trustworthy)
    work_method   TEXT,
    methods       INTEGER,           -- circuit public signal: energy code | work code << 4
    efficiency_uj_per_unit INTEGER,  -- v2 tier value τ (µJ per unit) proved
    footprint_mj  INTEGER,           -- energy the node itself spent sampling and proving this epoch
    footprint_method TEXT,           -- how footprint_mj was obtained ("estimated: ...")
    batch_size    INTEGER,           -- epochs settled by the same transaction (1 = single submit)
    prove_seconds REAL,
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
    intervals_mj: list[int] | None
    energy_mj: int | None
    gaps: list[int] | None
    energy_by_method: dict[str, int] | None
    energy_by_kind: dict[str, int] | None
    tier: int | None
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
    work_units: list[int] | None = None
    work_total: int | None = None
    work_unit: str | None = None
    work_gaps: list[int] | None = None
    energy_method: str | None = None
    work_method: str | None = None
    methods: int | None = None
    efficiency_uj_per_unit: int | None = None
    footprint_mj: int | None = None
    footprint_method: str | None = None
    batch_size: int | None = None
    prove_seconds: float | None = None

    @property
    def energy_per_unit_uj(self) -> float | None:
        """Measured µJ per unit of work (None without work)."""
        if not self.work_total or self.energy_mj is None:
            return None
        return 1000 * self.energy_mj / self.work_total

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
            js(row["intervals_mj"]),
            row["energy_mj"],
            js(row["gaps"]),
            js(row["energy_by_method"]),
            js(row["energy_by_kind"]),
            row["tier"],
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
            js(row["work_units"]),
            row["work_total"],
            row["work_unit"],
            js(row["work_gaps"]),
            row["energy_method"],
            row["work_method"],
            row["methods"],
            row["efficiency_uj_per_unit"],
            row["footprint_mj"],
            row["footprint_method"],
            row["batch_size"],
            row["prove_seconds"],
        )


class NodeState:
    """One SQLite file; every method is one committed transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path, synchronous="FULL")  # a recorded step survives power loss, not just a crash
        self._db.executescript(SCHEMA)
        _migrate(self._db)

    def close(self) -> None:
        self._db.close()

    def _update(self, node: str, epoch: int, expect: Sequence[str], **values: Any) -> None:
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{key} = ?" for key in values)
        marks = ", ".join("?" for _ in expect)
        with transaction(self._db) as db:
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
        with transaction(self._db) as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO node_epochs (node, epoch, epoch_seconds, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (node, epoch, epoch_seconds, OPEN, now, now),
            )
            return cursor.rowcount == 1

    def record_closed(
        self,
        node: str,
        epoch: int,
        energy: EpochEnergy,
        status: str,
        gaps: Sequence[int],
        work_gaps: Sequence[int],
        tier: int | None,
        efficiency_uj_per_unit: int | None,
        salt: int | None,
        note: str,
        footprint_mj: int | None = None,
        footprint_method: str | None = None,
    ) -> str:
        """Store the closed epoch's energy, work and the decision taken on it (`status`: proving or one of
        NOT_PROVED), in one step. Returns the new status."""
        assert status == PROVING or status in NOT_PROVED, status
        self._update(
            node,
            epoch,
            (OPEN,),
            status=status,
            intervals_mj=json.dumps(list(energy.intervals_mj)),
            energy_mj=sum(energy.intervals_mj),
            gaps=json.dumps(list(gaps)),
            energy_by_method=json.dumps(energy.by_method),
            energy_by_kind=json.dumps(energy.by_kind),
            work_units=json.dumps(list(energy.work_units)),
            work_total=energy.work_total,
            work_unit=energy.work_unit,
            work_gaps=json.dumps(list(work_gaps)),
            energy_method=energy.energy_method,
            work_method=energy.work_method,
            methods=energy.methods,
            tier=tier,
            efficiency_uj_per_unit=efficiency_uj_per_unit,
            salt=None if salt is None else str(salt),
            note=note,
            footprint_mj=footprint_mj,
            footprint_method=footprint_method,
        )
        return status

    def add_footprint(self, node: str, epoch: int, extra_mj: int) -> None:
        """Add energy the node spent on this epoch after closing it (proving)."""
        with transaction(self._db) as db:
            db.execute("UPDATE node_epochs SET footprint_mj = COALESCE(footprint_mj, 0) + ? WHERE node = ? AND "
                       "epoch = ?", (int(extra_mj), node, epoch))

    def record_proof(
        self, node: str, epoch: int, commitment: int, proof: Sequence[int], bundle: dict[str, Any],
        prove_seconds: float | None = None,
    ) -> None:
        self._update(
            node,
            epoch,
            (PROVING,),
            status=PROVED,
            prove_seconds=prove_seconds,
            commitment=str(commitment),
            proof=json.dumps([str(x) for x in proof]),
            bundle=json.dumps(bundle),
        )

    def record_signed(self, node: str, epoch: int | Sequence[int], nonce: int, raw_tx: str, tx_hash: str) -> None:
        """The signed transaction is durable before it is broadcast: a restart rebroadcasts the same bytes. A
        batch (several epochs) is recorded in one database transaction: all its epochs share the signed tx."""
        epochs = [epoch] if isinstance(epoch, int) else list(epoch)
        with transaction(self._db) as db:
            for e in epochs:
                cursor = db.execute(
                    "UPDATE node_epochs SET status = ?, nonce = ?, raw_tx = ?, tx_hash = ?, batch_size = ?,"
                    " attempts = attempts + 1, updated_at = ? WHERE node = ? AND epoch = ? AND status = ?",
                    (SENDING, nonce, raw_tx, tx_hash, len(epochs), time.time(), node, e, PROVED),
                )
                if cursor.rowcount != 1:
                    raise StateError(f"epoch {e}: not in state {PROVED}, cannot record a signed transaction")

    def record_handed_over(self, node: str, epoch: int, note: str) -> None:
        """The proof was handed to a relay, which settles it in one of its batches; the node watches isAccepted."""
        self._update(node, epoch, (PROVED,), status=HANDED_OVER, note=note)

    def reclaim(self, node: str, epoch: int, note: str) -> None:
        """A handed-over epoch the relay did not settle in time goes back to the node's own queue."""
        self._update(node, epoch, (HANDED_OVER,), status=PROVED, note=note)

    def unsign(self, node: str, epoch: int, note: str) -> None:
        """The stored transaction can never be mined (its nonce went to another); sign afresh next time."""
        self._update(node, epoch, (SENDING,), status=PROVED, nonce=None, raw_tx=None, tx_hash=None, note=note)

    def retier(
        self, node: str, epoch: int, tier: int | None, efficiency_uj_per_unit: int | None, reprove: bool, note: str
    ) -> str:
        """Governance changed the class's tiers after this epoch was proved. Same tier value at another index:
        keep the proof (`reprove` False). Otherwise prove again at the new tier with the same salt (so the same
        commitment), or, when no tier fits any more, the epoch is over budget. Returns the new status."""
        if tier is None:
            status = OVER_BUDGET
        else:
            status = PROVING if reprove else PROVED
        values: dict[str, Any] = {"status": status, "tier": tier, "efficiency_uj_per_unit": efficiency_uj_per_unit,
                                  "note": note}
        if reprove or tier is None:
            values.update(commitment=None, proof=None, bundle=None)
        self._update(node, epoch, (PROVED,), **values)
        return status

    def record_accepted(
        self, node: str, epoch: int, tx_hash: str | None, gas_used: int | None, block: int | None, note: str
    ) -> None:
        self._update(
            node, epoch, (PROVED, SENDING, HANDED_OVER), status=ACCEPTED, tx_hash=tx_hash, gas_used=gas_used,
            block=block, note=note,
        )

    def set_batch_size(self, node: str, epoch: int, size: int) -> None:
        with transaction(self._db) as db:
            db.execute("UPDATE node_epochs SET batch_size = ? WHERE node = ? AND epoch = ?", (size, node, epoch))

    def reopen(self, node: str, epoch: int, note: str) -> str:
        """A reorg removed the accepted transaction: back to the queue. With its signed transaction stored the
        epoch goes to sending (the same bytes are rebroadcast: same nonce, no double submit); else to proved.
        Returns the new status."""
        rec = self.get(node, epoch)
        status = SENDING if rec is not None and rec.raw_tx and rec.nonce is not None else PROVED
        values: dict[str, Any] = {"status": status, "gas_used": None, "block": None, "note": note}
        if status == PROVED:
            values.update(tx_hash=None, raw_tx=None, nonce=None)
        self._update(node, epoch, (ACCEPTED,), **values)
        return status

    def record_failed(self, node: str, epoch: int, note: str) -> None:
        self._update(node, epoch, (OPEN, *PENDING), status=FAILED, note=note)


V2_COLUMNS = (
    ("work_units", "TEXT"), ("work_total", "INTEGER"), ("work_unit", "TEXT"), ("work_gaps", "TEXT"),
    ("energy_method", "TEXT"), ("work_method", "TEXT"), ("methods", "INTEGER"),
    ("efficiency_uj_per_unit", "INTEGER"), ("footprint_mj", "INTEGER"), ("footprint_method", "TEXT"),
    ("batch_size", "INTEGER"), ("prove_seconds", "REAL"),
)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older node.db up to the current columns: `readings` became `intervals_mj`; the flat `methods`
    list ("source/method" labels and "kind=NmJ" totals) became two maps; v2 added the work series, totals and
    methods, the efficiency tier, the node's own footprint and the batch size (NULL on v1 rows)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(node_epochs)")}
    if "readings" in columns:
        _migrate_readings(db)
        columns = {row[1] for row in db.execute("PRAGMA table_info(node_epochs)")}
    missing = [(name, kind) for name, kind in V2_COLUMNS if name not in columns]
    if missing:
        with transaction(db):
            for name, kind in missing:
                db.execute(f"ALTER TABLE node_epochs ADD COLUMN {name} {kind}")


def _migrate_readings(db: sqlite3.Connection) -> None:
    with transaction(db):
        db.execute("ALTER TABLE node_epochs RENAME COLUMN readings TO intervals_mj")
        db.execute("ALTER TABLE node_epochs ADD COLUMN energy_by_method TEXT")
        db.execute("ALTER TABLE node_epochs ADD COLUMN energy_by_kind TEXT")
        for node, epoch, methods in db.execute("SELECT node, epoch, methods FROM node_epochs").fetchall():
            by_method: dict[str, int] = {}
            by_kind: dict[str, int] = {}
            for entry in json.loads(methods) if methods else []:
                kind, sep, amount = entry.partition("=")
                if sep and amount.endswith("mJ") and amount[:-2].isdigit():
                    by_kind[kind] = int(amount[:-2])
                else:
                    by_method[entry] = 0  # the old list named the methods without their energy
            db.execute(
                "UPDATE node_epochs SET energy_by_method = ?, energy_by_kind = ? WHERE node = ? AND epoch = ?",
                (json.dumps(by_method), json.dumps(by_kind), node, epoch),
            )
        db.execute("ALTER TABLE node_epochs DROP COLUMN methods")


class StateError(RuntimeError):
    """A transition from a state the row is not in: a bug, never an expected fault."""
