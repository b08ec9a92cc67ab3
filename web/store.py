"""The web's SQLite store: indexed chain events plus the summary tables that make every page a cheap lookup.

Raw tables (`proofs`, `claims`, `transfers`, `node_events`, `param_events`, `blocks`) hold what the chain
said, one row per event, keyed by (tx_hash, log_index) so a replay inserts nothing twice. Summary tables
(`nodes`, `totals`, `epoch_stats`) are derived from them by `refresh` and can be rebuilt at any time, which
is how a reorg roll-back stays consistent.

Units: energy in mJ (as on chain), carbon in mg CO2, credits in wei of ECO (18 decimals) kept exactly as
decimal TEXT (they overflow SQLite's 64-bit integers) next to a REAL copy in ECO used only for sorting and
charts. 1 ECO = 1 kWh saved below the node's class baseline, so a node's energy saved in kWh equals its
credits in ECO.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from markupsafe import Markup

SCHEMA_VERSION = 1
NODE_PAGE_SIZE = 20  # proofs per page on a node page (the first page is precomputed in node_pages)
NODE_CHART_EPOCHS = 100  # newest epochs in a node's chart
WEI_PER_ECO = 10**18
MJ_PER_KWH = 3_600_000_000  # 1 kWh = 3.6e6 J = 3.6e9 mJ

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The last block whose events are all indexed, and its hash (to notice a reorg below it).
CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 1), block INTEGER NOT NULL, hash TEXT NOT NULL);
-- Blocks that carried an indexed event: their hash finds the fork point of a reorg, their time dates events.
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL, timestamp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (
    node TEXT NOT NULL, epoch INTEGER NOT NULL, beneficiary TEXT NOT NULL, tier INTEGER NOT NULL,
    threshold_mj INTEGER NOT NULL, commitment TEXT NOT NULL, carbon_mg INTEGER NOT NULL,
    credits_wei TEXT NOT NULL, credits_eco REAL NOT NULL,
    block INTEGER NOT NULL, timestamp INTEGER NOT NULL, tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL,
    gas_used INTEGER,
    PRIMARY KEY (node, epoch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS proofs_by_block ON proofs (block);
CREATE INDEX IF NOT EXISTS proofs_by_epoch ON proofs (epoch);
CREATE TABLE IF NOT EXISTS claims (
    tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL, beneficiary TEXT NOT NULL, recipient TEXT NOT NULL,
    amount_wei TEXT NOT NULL, amount_eco REAL NOT NULL, block INTEGER NOT NULL, timestamp INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS claims_by_block ON claims (block);
CREATE INDEX IF NOT EXISTS claims_by_beneficiary ON claims (beneficiary);
CREATE TABLE IF NOT EXISTS transfers (
    tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    amount_wei TEXT NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS transfers_by_block ON transfers (block);
-- NodeAdmitted / NodeRetired, in chain order: the registry columns of `nodes` are derived from them.
CREATE TABLE IF NOT EXISTS node_events (
    tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL, node TEXT NOT NULL, kind TEXT NOT NULL,
    beneficiary TEXT, hardware_class TEXT, region TEXT, block INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS node_events_by_node ON node_events (node, block, log_index);
CREATE INDEX IF NOT EXISTS node_events_by_block ON node_events (block);
-- Governance events (HardwareClassSet, RegionCarbonSet, EpochLengthSet, MaxEpochAgeSet), args as JSON.
CREATE TABLE IF NOT EXISTS param_events (
    tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS param_events_by_block ON param_events (block);

-- Summary tables (derived by refresh()).
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY, beneficiary TEXT, hardware_class TEXT, region TEXT, active INTEGER NOT NULL DEFAULT 0,
    proofs INTEGER NOT NULL DEFAULT 0, energy_mj INTEGER NOT NULL DEFAULT 0, carbon_mg INTEGER NOT NULL DEFAULT 0,
    credits_wei TEXT NOT NULL DEFAULT '0', credits_eco REAL NOT NULL DEFAULT 0,
    eco_score REAL NOT NULL DEFAULT 0, first_epoch INTEGER, last_epoch INTEGER,
    -- Positions under each leaderboard ordering and the node's rendered leaderboard cells: a page of the
    -- leaderboard is then one range scan of 25 precomputed rows.
    rank_credits INTEGER, rank_score INTEGER, rank_proofs INTEGER, rank_energy INTEGER,
    row_html TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS nodes_by_credits ON nodes (rank_credits);
CREATE INDEX IF NOT EXISTS nodes_by_score ON nodes (rank_score);
CREATE INDEX IF NOT EXISTS nodes_by_proofs ON nodes (rank_proofs);
CREATE INDEX IF NOT EXISTS nodes_by_energy ON nodes (rank_energy);
-- Each node's page as most visitors see it: its newest proofs rendered as table rows (first page) and the
-- data of its per-epoch chart, refreshed when the node's proofs change.
CREATE TABLE IF NOT EXISTS node_pages (node TEXT PRIMARY KEY, proofs_html TEXT NOT NULL, chart_json TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 1), nodes INTEGER NOT NULL, proofs INTEGER NOT NULL,
    energy_mj INTEGER NOT NULL, carbon_mg INTEGER NOT NULL, credits_wei TEXT NOT NULL,
    claimed_wei TEXT NOT NULL, minted_wei TEXT NOT NULL, claims INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS epoch_stats (
    epoch INTEGER PRIMARY KEY, proofs INTEGER NOT NULL, energy_mj INTEGER NOT NULL, carbon_mg INTEGER NOT NULL,
    credits_eco REAL NOT NULL
);
"""

# Leaderboard orderings: name → ORDER BY clause over `nodes` (each backed by an index above).
SORTS: dict[str, str] = {
    "credits": "credits_eco DESC, node",
    "score": "eco_score DESC, node",
    "proofs": "proofs DESC, node",
    "energy": "energy_mj DESC, node",
}
RANK_COLUMNS = {"credits": "rank_credits", "score": "rank_score", "proofs": "rank_proofs", "energy": "rank_energy"}

ZERO_ADDRESS = "0x" + "0" * 40
READER_MMAP_BYTES = 1 << 30  # address space, not memory: the pages are the OS's file cache
PROOF_ROW_COLUMNS = "epoch, tier, threshold_mj, carbon_mg, credits_wei, block, timestamp"


def connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    """A connection with WAL (readers never block the indexer) and rows addressable by column name."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        # Readers map the file instead of copying pages through read(): halves a node page's lookups at scale.
        conn.execute(f"PRAGMA mmap_size={READER_MMAP_BYTES}")
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def open_store(path: Path | str) -> sqlite3.Connection:
    """Open (and create or migrate) the store for writing."""
    conn = connect(path)
    with transaction(conn):
        ensure_schema(conn)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("INSERT OR IGNORE INTO totals VALUES (1, 0, 0, 0, 0, '0', '0', '0', 0)")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create whatever tables and indexes are missing (idempotent)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


class transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


# --- derived tables -------------------------------------------------------------------------------------


def eco_score(saved_mj: float, energy_mj: float) -> float:
    """On-chain Eco Score, 0–100: the share of the class baseline saved, 100·Σ(B−T)/ΣB over accepted epochs.

    Everything in it is public: T is each proof's threshold, and B−T follows from its credits
    (credits = (B−T)·10^18/3.6·10^9), so anyone can recompute it from the events.
    """
    baseline = saved_mj + energy_mj
    return 0.0 if baseline <= 0 else round(100.0 * saved_mj / baseline, 2)


def _exact_sum(values: Iterable[str]) -> int:
    return sum(int(v) for v in values)


def refresh(conn: sqlite3.Connection, nodes: set[str] | None = None, epochs: set[int] | None = None) -> None:
    """Recompute summary rows from the raw tables: for the given nodes/epochs, or everything when None.

    Call inside the transaction that changed the raw rows, so readers see both or neither. Every refresh
    (an indexed batch, a reorg roll-back) bumps the index version, which retires cached pages.
    """
    _refresh_nodes(conn, nodes)
    _refresh_ranks(conn)
    _refresh_epochs(conn, epochs)
    _refresh_totals(conn)
    bump_index_version(conn)


def bump_index_version(conn: sqlite3.Connection) -> None:
    """Count one more change of what the pages show (committed with the change itself)."""
    conn.execute("INSERT INTO meta VALUES ('index_version', '1') ON CONFLICT (key) DO UPDATE"
                 " SET value = CAST(value AS INTEGER) + 1")


def index_version(conn: sqlite3.Connection) -> int:
    """The index version: it changes whenever the indexer commits a batch or rolls back a reorg."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'index_version'").fetchone()
    return 0 if row is None else int(row[0])


def _node_filter(nodes: set[str] | None, column: str = "node") -> tuple[str, list[str]]:
    if nodes is None:
        return "", []
    marks = ",".join("?" * len(nodes))
    return f" WHERE {column} IN ({marks})", sorted(nodes)


def _refresh_nodes(conn: sqlite3.Connection, nodes: set[str] | None) -> None:
    if nodes is not None and not nodes:
        return
    where, params = _node_filter(nodes)
    registry: dict[str, tuple[str | None, str | None, str | None, int]] = {}
    for row in conn.execute(f"SELECT * FROM node_events{where} ORDER BY node, block, log_index", params):
        if row["kind"] == "admitted":
            registry[row["node"]] = (row["beneficiary"], row["hardware_class"], row["region"], 1)
        else:
            old = registry.get(row["node"], (None, None, None, 0))
            registry[row["node"]] = (old[0], old[1], old[2], 0)
    stats: dict[str, dict[str, object]] = {}
    for row in conn.execute(
        f"SELECT node, COUNT(*) AS proofs, SUM(threshold_mj) AS energy_mj, SUM(carbon_mg) AS carbon_mg,"
        f" group_concat(credits_wei) AS credits, MIN(epoch) AS first_epoch, MAX(epoch) AS last_epoch,"
        f" (SELECT beneficiary FROM proofs p2 WHERE p2.node = proofs.node ORDER BY epoch DESC LIMIT 1) AS ben"
        f" FROM proofs{where} GROUP BY node", params,
    ):
        stats[row["node"]] = dict(row)
    if nodes is None:
        conn.execute("DELETE FROM nodes")
        targets = set(registry) | set(stats)
    else:
        conn.execute(f"DELETE FROM nodes{where}", params)
        targets = (set(registry) | set(stats)) & nodes
    rows = []
    for node in sorted(targets):
        beneficiary, hw_class, region, active = registry.get(node, (None, None, None, 0))
        s = stats.get(node)
        if s is None:
            rows.append((node, beneficiary, hw_class, region, active, 0, 0, 0, "0", 0.0, 0.0, None, None))
            continue
        credits = _exact_sum(str(s["credits"]).split(","))
        energy = int(s["energy_mj"])  # type: ignore[arg-type]
        saved_mj = credits * MJ_PER_KWH / WEI_PER_ECO
        rows.append((node, beneficiary or s["ben"], hw_class, region, active, s["proofs"], energy, s["carbon_mg"],
                     str(credits), credits / WEI_PER_ECO, eco_score(saved_mj, energy),
                     s["first_epoch"], s["last_epoch"]))
    conn.executemany("INSERT INTO nodes (node, beneficiary, hardware_class, region, active, proofs, energy_mj,"
                     " carbon_mg, credits_wei, credits_eco, eco_score, first_epoch, last_epoch)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    from web.views import node_cells, proof_rows

    conn.executemany("UPDATE nodes SET row_html = ? WHERE node = ?",
                     [(node_cells(r), r["node"]) for r in conn.execute(f"SELECT * FROM nodes{where}", params)])
    conn.execute(f"DELETE FROM node_pages{where}", params)
    pages = []
    for node in sorted(stats):
        newest = conn.execute(f"SELECT {PROOF_ROW_COLUMNS} FROM proofs WHERE node = ? ORDER BY epoch DESC LIMIT ?",
                              (node, max(NODE_PAGE_SIZE, NODE_CHART_EPOCHS))).fetchall()
        chart = newest[:NODE_CHART_EPOCHS][::-1]
        pages.append((node, proof_rows(node, newest[:NODE_PAGE_SIZE]), json.dumps({
            "labels": [r["epoch"] for r in chart],
            "energy_kwh": [round(r["threshold_mj"] / MJ_PER_KWH, 6) for r in chart],
            "carbon_g": [round(r["carbon_mg"] / 1000, 3) for r in chart]}, separators=(",", ":"))))
    conn.executemany("INSERT INTO node_pages VALUES (?, ?, ?)", pages)


def _refresh_ranks(conn: sqlite3.Connection) -> None:
    """Every node's position under each ordering (ranks shift for all nodes when one node's figures change)."""
    windows = ", ".join(f"ROW_NUMBER() OVER (ORDER BY {SORTS[k]}) AS {c}" for k, c in RANK_COLUMNS.items())
    sets = ", ".join(f"{c} = r.{c}" for c in RANK_COLUMNS.values())
    changed = " OR ".join(f"nodes.{c} IS NOT r.{c}" for c in RANK_COLUMNS.values())
    conn.execute(f"UPDATE nodes SET {sets} FROM (SELECT node, {windows} FROM nodes) AS r"
                 f" WHERE nodes.node = r.node AND ({changed})")


def _refresh_epochs(conn: sqlite3.Connection, epochs: set[int] | None) -> None:
    if epochs is not None and not epochs:
        return
    if epochs is None:
        conn.execute("DELETE FROM epoch_stats")
        where, params = "", []
    else:
        marks = ",".join("?" * len(epochs))
        where, params = f" WHERE epoch IN ({marks})", sorted(epochs)
        conn.execute(f"DELETE FROM epoch_stats{where}", params)
    conn.execute(
        f"INSERT INTO epoch_stats SELECT epoch, COUNT(*), SUM(threshold_mj), SUM(carbon_mg), SUM(credits_eco)"
        f" FROM proofs{where} GROUP BY epoch", params,
    )


def _refresh_totals(conn: sqlite3.Connection) -> None:
    n = conn.execute("SELECT COUNT(*), COALESCE(SUM(proofs), 0), COALESCE(SUM(energy_mj), 0),"
                     " COALESCE(SUM(carbon_mg), 0) FROM nodes").fetchone()
    credits = _exact_sum(r[0] for r in conn.execute("SELECT credits_wei FROM nodes WHERE credits_wei != '0'"))
    claimed = _exact_sum(r[0] for r in conn.execute("SELECT amount_wei FROM claims"))
    claims = conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    minted = _exact_sum(r[0] for r in conn.execute("SELECT amount_wei FROM transfers WHERE sender = ?",
                                                   (ZERO_ADDRESS,)))
    conn.execute("UPDATE totals SET nodes=?, proofs=?, energy_mj=?, carbon_mg=?, credits_wei=?, claimed_wei=?,"
                 " minted_wei=?, claims=? WHERE id = 1",
                 (n[0], n[1], n[2], n[3], str(credits), str(claimed), str(minted), claims))


# --- roll-back (reorgs) ----------------------------------------------------------------------------------

RAW_TABLES = ("proofs", "claims", "transfers", "node_events", "param_events", "blocks")


def rollback_to(conn: sqlite3.Connection, block: int, block_hash: str) -> None:
    """Forget every event above `block` (a reorg replaced them) and rebuild the summaries; call in a transaction."""
    for table in RAW_TABLES:
        column = "number" if table == "blocks" else "block"
        conn.execute(f"DELETE FROM {table} WHERE {column} > ?", (block,))
    conn.execute("INSERT INTO cursor VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET block = excluded.block,"
                 " hash = excluded.hash", (block, block_hash))
    refresh(conn)


# --- reads for the pages and the API --------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


class Reader:
    """Read-only queries behind every page; each is one indexed lookup or a bounded index range scan."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def totals(self) -> sqlite3.Row:
        return self.conn.execute("SELECT * FROM totals WHERE id = 1").fetchone()

    def cursor(self) -> sqlite3.Row | None:
        return self.conn.execute("SELECT block, hash FROM cursor WHERE id = 1").fetchone()

    def epoch_series(self, limit: int = 200) -> list[sqlite3.Row]:
        rows = self.conn.execute("SELECT * FROM epoch_stats ORDER BY epoch DESC LIMIT ?", (limit,)).fetchall()
        rows.reverse()
        return rows

    def leaderboard(self, sort: str, page: int, size: int) -> Page:
        """One page of nodes by precomputed rank: an index range scan, however deep the page."""
        rank = RANK_COLUMNS[sort]  # the caller validated `sort`; only whitelisted SQL reaches the query
        total = int(self.totals()["nodes"])
        rows = self.conn.execute(
            f"SELECT {rank} AS position, node, beneficiary, hardware_class, region, active, proofs, energy_mj,"
            f" carbon_mg, credits_wei, credits_eco, eco_score, last_epoch FROM nodes WHERE {rank} > ?"
            f" ORDER BY {rank} LIMIT ?", ((page - 1) * size, size)).fetchall()
        return Page(rows, page, size, total)

    def leaderboard_rows_html(self, sort: str, page: int, size: int) -> Page:
        """The same page as table rows in one Markup string: each node's cells were rendered (autoescaped)
        when its figures last changed, and the only value added here is the integer position."""
        rank = RANK_COLUMNS[sort]
        total = int(self.totals()["nodes"])
        rows = self.conn.execute(f"SELECT {rank}, row_html FROM nodes WHERE {rank} > ? ORDER BY {rank} LIMIT ?",
                                 ((page - 1) * size, size)).fetchall()
        html = "\n".join(f"<tr><td>{int(position):d}</td>{cells}</tr>" for position, cells in rows)
        return Page([Markup(html)] if rows else [], page, size, total)

    def node(self, node: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM nodes WHERE node = ?", (node,)).fetchone()

    def node_proofs(self, node: str, page: int, size: int, total: int) -> Page:
        rows = self.conn.execute(
            f"SELECT {PROOF_ROW_COLUMNS}, tx_hash FROM proofs WHERE node = ? ORDER BY epoch DESC LIMIT ? OFFSET ?",
            (node, size, (page - 1) * size)).fetchall()
        return Page(rows, page, size, total)

    def node_page(self, node: str) -> sqlite3.Row | None:
        """The precomputed first page of proof rows and the chart data of a node."""
        return self.conn.execute("SELECT proofs_html, chart_json FROM node_pages WHERE node = ?", (node,)).fetchone()

    def proof(self, node: str, epoch: int) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM proofs WHERE node = ? AND epoch = ?", (node, epoch)).fetchone()

    def claims_of(self, beneficiary: str, limit: int = 20) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM claims WHERE beneficiary = ? ORDER BY block DESC, log_index DESC"
                                 " LIMIT ?", (beneficiary, limit)).fetchall()

    def params(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT name, args, block FROM param_events ORDER BY block, log_index").fetchall()
