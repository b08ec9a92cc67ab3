"""The web index's summary tables (`nodes`, `totals`, `epoch_stats`), derived from the raw event tables.

`refresh` runs inside the transaction that changed the raw rows, so readers see both or neither; every
refresh and every reorg roll-back bumps the index version, which retires the page cache's pages. SQLAlchemy
Core throughout: the same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from oracle.conventions import MJ_PER_KWH, WEI_PER_ECO
from web.db.schema import (RANK_KEYS, RAW_TABLES, blocks, bump_index_version, claims, epoch_stats, node_events,
                           nodes, proofs, set_cursor, totals, transfers)

ZERO_ADDRESS = "0x" + "0" * 40


class exact_sum_text(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """The exact sum of decimal TEXT values (wei exceed 64 bits), as text: PostgreSQL sums them as NUMERIC;
    SQLite has no big integers, so it hands over the values comma-joined and `parse_exact_sum` adds them."""

    type = Text()
    name = "exact_sum_text"
    inherit_cache = True


@compiles(exact_sum_text, "postgresql")
def _exact_sum_postgresql(element: exact_sum_text, compiler: Any, **kw: Any) -> str:
    return f"CAST(SUM(CAST({compiler.process(element.clauses, **kw)} AS NUMERIC)) AS TEXT)"


@compiles(exact_sum_text)
def _exact_sum_sqlite(element: exact_sum_text, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)})"


def parse_exact_sum(value: str | None) -> int:
    return 0 if not value else sum(int(v) for v in str(value).split(","))


class binary_order(ColumnElement):  # noqa: N801 - a SQL construct
    """A text column compared byte by byte: SQLite's default; PostgreSQL's depends on the database's locale, so
    ties are broken by COLLATE "C" there and both backends rank nodes identically."""

    inherit_cache = True

    def __init__(self, column: ColumnElement) -> None:
        self.column = column
        self.type = column.type


@compiles(binary_order, "postgresql")
def _binary_order_postgresql(element: binary_order, compiler: Any, **kw: Any) -> str:
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'


@compiles(binary_order)
def _binary_order_default(element: binary_order, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


# Leaderboard orderings: sort key → ORDER BY over `nodes`; each has a rank column `rank_<key>` (indexed).
SORTS: dict[str, tuple[Any, ...]] = {
    "credits": (nodes.c.credits_eco.desc(), binary_order(nodes.c.node)),
    "saved_share": (nodes.c.saved_share_pct.desc(), binary_order(nodes.c.node)),
    "proofs": (nodes.c.proofs.desc(), binary_order(nodes.c.node)),
    "threshold_total": (nodes.c.threshold_mj_total.desc(), binary_order(nodes.c.node)),
}
assert tuple(SORTS) == RANK_KEYS
RANK_COLUMNS = {key: f"rank_{key}" for key in SORTS}


def saved_share_pct(saved_mj: float, threshold_mj_total: float) -> float:
    """Share of the class baseline saved, 0–100: 100·Σ(B−T)/ΣB over a node's accepted epochs.

    Not the Eco Score of oracle/carbon/ecoscore.py (which needs measurements the chain does not have): this one
    uses only public values. T is each proof's threshold, and B−T follows from its credits
    (credits = (B−T)·10^18/3.6·10^9), so anyone can recompute it from the events.
    """
    baseline = saved_mj + threshold_mj_total
    return 0.0 if baseline <= 0 else round(100.0 * saved_mj / baseline, 2)


def refresh(conn: Connection, nodes_: set[str] | None = None, epochs: set[int] | None = None) -> None:
    """Recompute summary rows from the raw tables: for the given nodes/epochs, or everything when None."""
    _refresh_nodes(conn, nodes_)
    _refresh_ranks(conn)
    _refresh_epochs(conn, epochs)
    _refresh_totals(conn)
    bump_index_version(conn)


def rollback_to(conn: Connection, block: int, block_hash: str) -> None:
    """Forget every event above `block` (a reorg replaced them) and rebuild the summaries; call in a transaction."""
    for table in RAW_TABLES:
        column = table.c.number if table is blocks else table.c.block
        conn.execute(delete(table).where(column > block))
    set_cursor(conn, block, block_hash)
    refresh(conn)


def _refresh_nodes(conn: Connection, targets: set[str] | None) -> None:
    if targets is not None and not targets:
        return
    registry: dict[str, tuple[str | None, str | None, str | None, int]] = {}
    events = select(node_events).order_by(node_events.c.node, node_events.c.block, node_events.c.log_index)
    if targets is not None:
        events = events.where(node_events.c.node.in_(sorted(targets)))
    for row in conn.execute(events).mappings():
        if row["kind"] == "admitted":
            registry[row["node"]] = (row["beneficiary"], row["hardware_class"], row["region"], 1)
        else:
            old = registry.get(row["node"], (None, None, None, 0))
            registry[row["node"]] = (old[0], old[1], old[2], 0)
    latest = proofs.alias("latest")
    newest_beneficiary = (select(latest.c.beneficiary).where(latest.c.node == proofs.c.node)
                          .order_by(latest.c.epoch.desc()).limit(1).scalar_subquery())
    stats_query = select(
        proofs.c.node, func.count().label("proofs"), func.sum(proofs.c.threshold_mj).label("threshold_mj_total"),
        func.sum(proofs.c.carbon_mg).label("carbon_mg"), exact_sum_text(proofs.c.credits_wei).label("credits"),
        func.min(proofs.c.epoch).label("first_epoch"), func.max(proofs.c.epoch).label("last_epoch"),
        newest_beneficiary.label("ben"),
    ).group_by(proofs.c.node)
    if targets is not None:
        stats_query = stats_query.where(proofs.c.node.in_(sorted(targets)))
    stats = {row["node"]: row for row in conn.execute(stats_query).mappings()}
    if targets is None:
        conn.execute(delete(nodes))
        wanted = set(registry) | set(stats)
    else:
        conn.execute(delete(nodes).where(nodes.c.node.in_(sorted(targets))))
        wanted = (set(registry) | set(stats)) & targets
    rows = []
    for node in sorted(wanted):
        beneficiary, hw_class, region, active = registry.get(node, (None, None, None, 0))
        row: dict[str, Any] = {"node": node, "beneficiary": beneficiary, "hardware_class": hw_class,
                               "region": region, "active": active, "proofs": 0, "threshold_mj_total": 0,
                               "carbon_mg": 0, "credits_wei": "0", "credits_eco": 0.0, "saved_share_pct": 0.0,
                               "first_epoch": None, "last_epoch": None}
        s = stats.get(node)
        if s is not None:
            credits = parse_exact_sum(s["credits"])
            bound = int(s["threshold_mj_total"])
            row.update(beneficiary=beneficiary or s["ben"], proofs=int(s["proofs"]), threshold_mj_total=bound,
                       carbon_mg=int(s["carbon_mg"]), credits_wei=str(credits), credits_eco=credits / WEI_PER_ECO,
                       saved_share_pct=saved_share_pct(credits * MJ_PER_KWH / WEI_PER_ECO, bound),
                       first_epoch=s["first_epoch"], last_epoch=s["last_epoch"])
        rows.append(row)
    if rows:
        conn.execute(insert(nodes), rows)


def _refresh_ranks(conn: Connection) -> None:
    """Every node's position under each ordering (ranks shift for all nodes when one node's figures change);
    only rows whose position moved are written."""
    ranked = select(nodes.c.node, *(func.row_number().over(order_by=SORTS[key]).label(column)
                                    for key, column in RANK_COLUMNS.items())).subquery("r")
    conn.execute(update(nodes).where(nodes.c.node == ranked.c.node)
                 .where(or_(*(nodes.c[c].is_distinct_from(ranked.c[c]) for c in RANK_COLUMNS.values())))
                 .values({c: ranked.c[c] for c in RANK_COLUMNS.values()}))


def _refresh_epochs(conn: Connection, epochs: set[int] | None) -> None:
    if epochs is not None and not epochs:
        return
    source = select(proofs.c.epoch, func.count(), func.sum(proofs.c.threshold_mj), func.sum(proofs.c.carbon_mg),
                    func.sum(proofs.c.credits_eco)).group_by(proofs.c.epoch)
    if epochs is None:
        conn.execute(delete(epoch_stats))
    else:
        conn.execute(delete(epoch_stats).where(epoch_stats.c.epoch.in_(sorted(epochs))))
        source = source.where(proofs.c.epoch.in_(sorted(epochs)))
    conn.execute(insert(epoch_stats).from_select(
        ["epoch", "proofs", "threshold_mj_total", "carbon_mg", "credits_eco"], source))


def _exact_total(conn: Connection, column: Any, *where: Any) -> int:
    return parse_exact_sum(conn.execute(select(exact_sum_text(column)).where(*where)).scalar())


def _refresh_totals(conn: Connection) -> None:
    n = conn.execute(select(func.count(), func.coalesce(func.sum(nodes.c.proofs), 0),
                            func.coalesce(func.sum(nodes.c.threshold_mj_total), 0),
                            func.coalesce(func.sum(nodes.c.carbon_mg), 0))).one()
    conn.execute(update(totals).where(totals.c.id == 1).values(
        nodes=int(n[0]), proofs=int(n[1]), threshold_mj_total=int(n[2]), carbon_mg=int(n[3]),
        credits_wei=str(_exact_total(conn, nodes.c.credits_wei, nodes.c.credits_wei != "0")),
        claimed_wei=str(_exact_total(conn, claims.c.amount_wei)),
        minted_wei=str(_exact_total(conn, transfers.c.amount_wei, transfers.c.sender == ZERO_ADDRESS)),
        claims=int(conn.execute(select(func.count()).select_from(claims)).scalar())))


def exact_sum(values: Iterable[str]) -> int:
    return sum(int(v) for v in values)
