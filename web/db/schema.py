"""The web index's tables (SQLAlchemy Core, one schema for SQLite and PostgreSQL) and its meta values.

Raw tables (`proofs`, `batches`, `claims`, `transfers`, `retirements`, `node_events`, `param_events`,
`blocks`) hold what the chain said, one row per event, keyed by (tx_hash, log_index) (proofs by (node, epoch),
retirements by token id) so a replay inserts nothing twice. Summary tables (`nodes`, `classes`, `totals`,
`epoch_stats`) are derived from them by `summaries.refresh` and can be rebuilt at any
time, which is how a reorg roll-back stays consistent. The database holds data only: pages are rendered from
it per request (and kept by the page cache, web/cache.py). The tables are created and changed only by the
Alembic revisions in web/db/migrations (web.db.engine.upgrade); this module describes their head state.

Units: energy in mJ (as on chain), efficiency in µJ per work unit, carbon in mg CO2, credits in wei of ECO
(18 decimals) kept exactly as decimal TEXT (they overflow 64-bit integers) next to a DOUBLE copy in ECO used
only for sorting and charts. `energy_bound_mj` is what a proof implies (ceil(τ·W/1000)): an upper bound of the
energy used, not a reading. `verifications` is the one table the web app writes (stored "verify again" results).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (BigInteger, CheckConstraint, Column, Double, Index, Integer, MetaData, Table, Text, select,
                        update)
from sqlalchemy.engine import Connection

# 64-bit integers on PostgreSQL; plain INTEGER on SQLite (also 64-bit there, and the rowid alias it optimises).
Big = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table("meta", metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))

# The last block whose events are all indexed, and its hash (to notice a reorg below it).
cursor = Table("cursor", metadata,
               Column("id", Integer, CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
               Column("block", Big, nullable=False), Column("hash", Text, nullable=False))

# Blocks that carried an indexed event: their hash finds the fork point of a reorg, their time dates events.
blocks = Table("blocks", metadata, Column("number", Big, primary_key=True, autoincrement=False),
               Column("hash", Text, nullable=False), Column("timestamp", Big, nullable=False))

# One row per EpochProved (v2). `methods` is the raw code energy | work << 4 (0 measured, 1 estimated,
# 2 replayed); `baseline_uj_per_unit` is the class's β in force when the epoch was indexed (from
# EfficiencyClassSet; the Eco Score uses it); `epoch_start`/`epoch_end` come from the epoch schedule
# (EpochScheduleChanged); `batch_size` counts the EpochProved events of the settling transaction (1: a single
# submit) and `settled_by` is that transaction's sender (the node itself or a relayer); `proof` is the Groth16
# proof read from that transaction's calldata (the uint256[8] as a JSON list of decimal strings; null if the
# transaction did not call GreenProof directly), so the proof files download without a chain read.
proofs = Table(
    "proofs", metadata,
    Column("node", Text, primary_key=True), Column("epoch", Big, primary_key=True, autoincrement=False),
    Column("beneficiary", Text, nullable=False), Column("class_id", Text, nullable=False),
    Column("tier", Integer, nullable=False), Column("efficiency_uj_per_unit", Big, nullable=False),
    Column("work_units", Big, nullable=False), Column("methods", Integer, nullable=False),
    Column("commitment", Text, nullable=False), Column("energy_bound_mj", Big, nullable=False),
    Column("carbon_bound_mg", Big, nullable=False), Column("credits_wei", Text, nullable=False),
    Column("credits_eco", Double, nullable=False), Column("baseline_uj_per_unit", Big),
    Column("epoch_start", Big), Column("epoch_end", Big),
    Column("block", Big, nullable=False), Column("timestamp", Big, nullable=False),
    Column("tx_hash", Text, nullable=False), Column("log_index", Integer, nullable=False),
    Column("gas_used", Big), Column("batch_size", Integer, nullable=False, server_default="1"),
    Column("settled_by", Text), Column("proof", Text),
    Index("proofs_by_block", "block"), Index("proofs_by_epoch", "epoch"), Index("proofs_by_tx", "tx_hash"),
    sqlite_with_rowid=False,
)

# BatchSettled, one per submitBatch transaction.
batches = Table(
    "batches", metadata,
    Column("tx_hash", Text, primary_key=True), Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("relayer", Text, nullable=False), Column("count", Big, nullable=False),
    Column("batch_hash", Text, nullable=False), Column("block", Big, nullable=False),
    Index("batches_by_block", "block"),
)

claims = Table(
    "claims", metadata,
    Column("tx_hash", Text, primary_key=True), Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("beneficiary", Text, nullable=False), Column("recipient", Text, nullable=False),
    Column("amount_wei", Text, nullable=False), Column("amount_eco", Double, nullable=False),
    Column("block", Big, nullable=False), Column("timestamp", Big, nullable=False),
    Index("claims_by_block", "block"), Index("claims_by_beneficiary", "beneficiary"),
)

transfers = Table(
    "transfers", metadata,
    Column("tx_hash", Text, primary_key=True), Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("sender", Text, nullable=False), Column("recipient", Text, nullable=False),
    Column("amount_wei", Text, nullable=False), Column("block", Big, nullable=False),
    Index("transfers_by_block", "block"),
)

# RetirementCertificate.Retired: one row per certificate (token ids count up from 1).
retirements = Table(
    "retirements", metadata,
    Column("token_id", Big, primary_key=True, autoincrement=False),
    Column("holder", Text, nullable=False), Column("amount_wei", Text, nullable=False),
    Column("amount_eco", Double, nullable=False), Column("beneficiary_name", Text, nullable=False),
    Column("message", Text, nullable=False), Column("block", Big, nullable=False),
    Column("timestamp", Big, nullable=False), Column("tx_hash", Text, nullable=False),
    Column("log_index", Integer, nullable=False),
    Index("retirements_by_block", "block"), Index("retirements_by_holder", "holder", "token_id"),
)

# NodeAdmitted / NodeRetired, in chain order: the registry columns of `nodes` are derived from them.
node_events = Table(
    "node_events", metadata,
    Column("tx_hash", Text, primary_key=True), Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("node", Text, nullable=False), Column("kind", Text, nullable=False), Column("beneficiary", Text),
    Column("class_id", Text), Column("region", Text), Column("label", Text), Column("admitted_at", Big),
    Column("block", Big, nullable=False),
    Index("node_events_by_node", "node", "block", "log_index"), Index("node_events_by_block", "block"),
)

# Governance events (EfficiencyClassSet, RegionCarbonSet, EpochScheduleChanged, MaxEpochAgeSet), args as JSON:
# the /parameters page shows the current values and this history; `classes` is derived from them.
PARAM_EVENTS = ("EfficiencyClassSet", "RegionCarbonSet", "EpochScheduleChanged", "MaxEpochAgeSet")
param_events = Table(
    "param_events", metadata,
    Column("tx_hash", Text, primary_key=True), Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False), Column("args", Text, nullable=False), Column("block", Big, nullable=False),
    Index("param_events_by_block", "block"),
)

# A proof re-verified on request ("verify again"): an accepted proof never changes, so the result of the
# on-chain eth_call and of the Python verifier is kept, keyed by the proof and its transaction. Written by the
# web app (not the indexer); a reorg roll-back drops the rows above the fork with the proofs.
verifications = Table(
    "verifications", metadata,
    Column("node", Text, primary_key=True), Column("epoch", Big, primary_key=True, autoincrement=False),
    Column("tx_hash", Text, nullable=False), Column("block", Big, nullable=False),
    Column("result", Text, nullable=False), Column("verified_at", Double, nullable=False),
    Index("verifications_by_block", "block"),
)

# Summary tables (derived by summaries.refresh).
# Orderings over all nodes, and within one efficiency class (efficiency only compares within a class: the
# unit of work differs between classes).
RANK_KEYS = ("credits", "eco_score", "proofs")
CLASS_RANK_KEYS = ("efficiency", "credits", "eco_score", "proofs")
# What a leaderboard row shows: the covering indexes below carry them, so a page is an index-only scan.
LEADERBOARD_COLUMNS = ("node", "label", "beneficiary", "class_id", "hardware_class", "unit", "region", "active",
                       "proofs", "work_units_total", "energy_bound_mj_total", "carbon_bound_mg", "credits_wei",
                       "credits_eco", "efficiency_uj_per_unit", "eco_score", "last_epoch")
nodes = Table(
    "nodes", metadata,
    Column("node", Text, primary_key=True), Column("label", Text), Column("beneficiary", Text),
    Column("class_id", Text), Column("hardware_class", Text), Column("unit", Text), Column("region", Text),
    Column("admitted_at", Big), Column("active", Integer, nullable=False, server_default="0"),
    Column("proofs", Big, nullable=False, server_default="0"),
    Column("work_units_total", Big, nullable=False, server_default="0"),
    Column("energy_bound_mj_total", Big, nullable=False, server_default="0"),
    Column("carbon_bound_mg", Big, nullable=False, server_default="0"),
    Column("credits_wei", Text, nullable=False, server_default="0"),
    Column("credits_eco", Double, nullable=False, server_default="0"),
    # Work-weighted mean of the proven tiers, µJ per unit (an upper bound of the energy per unit); null: no proof.
    Column("efficiency_uj_per_unit", Double), Column("eco_score", Double),
    Column("first_epoch", Big), Column("last_epoch", Big),
    # Positions under each ordering: a page of the leaderboard is one range scan of its rows.
    *(Column(f"rank_{key}", Big) for key in RANK_KEYS),
    *(Column(f"class_rank_{key}", Big) for key in CLASS_RANK_KEYS),
    *(Index(f"nodes_by_{key}", f"rank_{key}", postgresql_include=list(LEADERBOARD_COLUMNS)) for key in RANK_KEYS),
    *(Index(f"nodes_by_class_{key}", "class_id", f"class_rank_{key}", postgresql_include=list(LEADERBOARD_COLUMNS))
      for key in CLASS_RANK_KEYS),
)

# EfficiencyClassSet's current values per class (tiers as a JSON list), and how many nodes the class has.
classes = Table(
    "classes", metadata,
    Column("class_id", Text, primary_key=True), Column("hardware_class", Text, nullable=False),
    Column("workload", Text, nullable=False), Column("unit", Text, nullable=False),
    Column("quality_floor", Text, nullable=False), Column("baseline_uj_per_unit", Big, nullable=False),
    Column("tiers_uj_per_unit", Text, nullable=False), Column("min_work_per_epoch", Big, nullable=False),
    Column("max_units_per_second", Big, nullable=False), Column("require_measured", Integer, nullable=False),
    Column("block", Big, nullable=False), Column("nodes", Big, nullable=False, server_default="0"),
)

totals = Table(
    "totals", metadata,
    Column("id", Integer, CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
    Column("nodes", Big, nullable=False), Column("proofs", Big, nullable=False),
    Column("energy_bound_mj_total", Big, nullable=False), Column("carbon_bound_mg", Big, nullable=False),
    Column("credits_wei", Text, nullable=False), Column("claimed_wei", Text, nullable=False),
    Column("minted_wei", Text, nullable=False), Column("claims", Big, nullable=False),
    Column("retired_wei", Text, nullable=False, server_default="0"),
    Column("retirements", Big, nullable=False, server_default="0"),
    Column("settlements", Big, nullable=False, server_default="0"),
)

epoch_stats = Table(
    "epoch_stats", metadata,
    Column("epoch", Big, primary_key=True, autoincrement=False), Column("proofs", Big, nullable=False),
    Column("energy_bound_mj_total", Big, nullable=False), Column("carbon_bound_mg", Big, nullable=False),
    Column("credits_eco", Double, nullable=False), Column("epoch_start", Big),
)

# Who writes: one indexer at a time (web.db.lock). On SQLite this row is the lock (owner + heartbeat); on
# PostgreSQL an advisory lock is, and the row only names the holder for the "waiting for …" log line.
indexer_lock = Table("indexer_lock", metadata,
                     Column("id", Integer, CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
                     Column("owner", Text, nullable=False), Column("acquired_at", Double, nullable=False),
                     Column("heartbeat", Double, nullable=False))

RAW_TABLES = (proofs, batches, claims, transfers, retirements, node_events, param_events, verifications, blocks)
EMPTY_TOTALS = {"id": 1, "nodes": 0, "proofs": 0, "energy_bound_mj_total": 0, "carbon_bound_mg": 0,
                "credits_wei": "0", "claimed_wei": "0", "minted_wei": "0", "claims": 0, "retired_wei": "0",
                "retirements": 0, "settlements": 0}


def dialect_insert(conn: Connection, table: Table):  # -> the dialect's INSERT, which has ON CONFLICT
    """INSERT with ON CONFLICT support in the connection's dialect (SQLite and PostgreSQL spell it alike)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert_
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert_
    return dialect_insert_(table)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: tuple[str, ...]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET the other columns."""
    stmt = dialect_insert(conn, table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys),
                                            set_={k: stmt.excluded[k] for k in values if k not in keys}))


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Insert rows, skipping those whose key is already there (a replayed event)."""
    if rows:
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)


def get_meta(conn: Connection, key: str) -> str | None:
    value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    return None if value is None else str(value)


def set_meta(conn: Connection, key: str, value: str) -> None:
    upsert(conn, meta, {"key": key, "value": value}, ("key",))


def set_cursor(conn: Connection, block: int, block_hash: str) -> None:
    upsert(conn, cursor, {"id": 1, "block": block, "hash": block_hash}, ("id",))


def bump_index_version(conn: Connection) -> None:
    """Count one more change of what the pages show (committed with the change itself)."""
    current = conn.execute(select(meta.c.value).where(meta.c.key == "index_version")).scalar()
    set_meta(conn, "index_version", str(1 if current is None else int(current) + 1))


INDEX_VERSION = select(meta.c.value).where(meta.c.key == "index_version")


def index_version(conn: Connection) -> int:
    """The index version: it changes whenever the indexer commits a batch or rolls back a reorg."""
    value = conn.execute(INDEX_VERSION).scalar()
    return 0 if value is None else int(value)


def reset_totals(conn: Connection) -> None:
    conn.execute(update(totals).where(totals.c.id == 1).values(**{k: v for k, v in EMPTY_TOTALS.items()
                                                                   if k != "id"}))



@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction on `conn` (SQLite: BEGIN IMMEDIATE, see web.db.engine), committed at the end and
    rolled back on any error. A transaction that a read outside one began implicitly is ended first, so a
    read never leaves a write lock or a snapshot held while the caller waits on the chain."""
    if conn.in_transaction():
        conn.commit()
    with conn.begin():
        yield conn
