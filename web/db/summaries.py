"""The web index's summary tables (`nodes`, `classes`, `totals`, `epoch_stats`), derived from the raw event tables.

`refresh` runs inside the transaction that changed the raw rows, so readers see both or neither; every
refresh and every reorg roll-back bumps the index version, which retires the page cache's pages. The `totals`
row holds running counters: an indexer batch adds what the rows it inserted add (`range_totals` of its block
range after minus before the inserts, by the raw tables' block indexes), a roll-back subtracts what the forgotten blocks had added; neither rescans the index.
SQLAlchemy
Core throughout: the same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Double, Text, cast, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from oracle.carbon.ecoscore import epochs_eco_score
from oracle.conventions import WEI_PER_ECO
from web.db.schema import (CLASS_RANK_KEYS, RANK_KEYS, RAW_TABLES, blocks, bump_index_version, claims, classes,
                           epoch_stats, node_events, nodes, param_events, proofs, retirements, set_cursor, totals,
                           transfers)

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


# Leaderboard orderings: sort key → ORDER BY over `nodes`; each has a rank column `rank_<key>` (indexed), and
# within a class `class_rank_<key>` (efficiency compares only within a class: units of work differ).
SORTS: dict[str, tuple[Any, ...]] = {
    "credits": (nodes.c.credits_eco.desc(), binary_order(nodes.c.node)),
    "eco_score": (nodes.c.eco_score.desc().nulls_last(), binary_order(nodes.c.node)),
    "proofs": (nodes.c.proofs.desc(), binary_order(nodes.c.node)),
}
CLASS_SORTS: dict[str, tuple[Any, ...]] = {
    "efficiency": (nodes.c.efficiency_uj_per_unit.asc().nulls_last(), binary_order(nodes.c.node)),
    **SORTS,
}
assert tuple(SORTS) == RANK_KEYS and tuple(CLASS_SORTS) == CLASS_RANK_KEYS
RANK_COLUMNS = {key: f"rank_{key}" for key in SORTS}
CLASS_RANK_COLUMNS = {key: f"class_rank_{key}" for key in CLASS_SORTS}


def refresh(conn: Connection, nodes_: set[str] | None = None, epochs: set[int] | None = None,
            added: dict[str, int] | None = None) -> None:
    """Recompute summary rows from the raw tables: for the given nodes/epochs, or everything when None.

    added: what the raw rows just inserted add to the totals (the indexer's batch: `range_totals` of its block
    range after the inserts minus before them, so a replayed row adds nothing); the totals row moves by that.
    Without it the totals are recounted in full."""
    _refresh_classes(conn)
    node_delta = _refresh_nodes(conn, nodes_)
    _refresh_ranks(conn)
    _refresh_class_counts(conn)
    _refresh_epochs(conn, epochs)
    if added is None:
        recount_totals(conn)
    else:
        add_totals(conn, {**added, "nodes": node_delta})
    bump_index_version(conn)


def rollback_to(conn: Connection, block: int, block_hash: str) -> None:
    """Forget every event above `block` (a reorg replaced them) and rebuild the summaries; call in a transaction.
    The totals row moves back by what the forgotten rows had added."""
    removed = range_totals(conn, block, None)
    for table in RAW_TABLES:
        column = table.c.number if table is blocks else table.c.block
        conn.execute(delete(table).where(column > block))
    set_cursor(conn, block, block_hash)
    _refresh_classes(conn)
    node_delta = _refresh_nodes(conn, None)
    _refresh_ranks(conn)
    _refresh_class_counts(conn)
    _refresh_epochs(conn, None)
    add_totals(conn, {**{k: -v for k, v in removed.items()}, "nodes": node_delta})
    bump_index_version(conn)


def _refresh_classes(conn: Connection) -> None:
    """`classes` from the EfficiencyClassSet events (the last one of each class wins); a handful of rows."""
    current: dict[str, dict[str, Any]] = {}
    for row in conn.execute(select(param_events.c.args, param_events.c.block)
                            .where(param_events.c.name == "EfficiencyClassSet")
                            .order_by(param_events.c.block, param_events.c.log_index)).mappings():
        current.update(class_row(json.loads(row["args"]), int(row["block"])))
    conn.execute(delete(classes))
    if current:
        conn.execute(insert(classes), list(current.values()))


def class_row(args: dict[str, Any], block: int) -> dict[str, dict[str, Any]]:
    """A `classes` row from EfficiencyClassSet's args (as the indexer stores them: labels decoded, big ints as
    text), keyed by class id."""
    class_id = str(args["classId"])
    return {class_id: {
        "class_id": class_id, "hardware_class": str(args["hardwareClass"]), "workload": str(args["workload"]),
        "unit": str(args["unit"]), "quality_floor": str(args["qualityFloor"]),
        "baseline_uj_per_unit": int(args["baselineUjPerUnit"]),
        "tiers_uj_per_unit": json.dumps([int(t) for t in args["tiersUjPerUnit"]]),
        "min_work_per_epoch": int(args["minWorkPerEpoch"]), "max_units_per_second": int(args["maxUnitsPerSecond"]),
        "require_measured": int(bool(args["requireMeasured"])), "block": block, "nodes": 0}}


def _refresh_nodes(conn: Connection, targets: set[str] | None) -> int:
    """Rewrite the `nodes` rows of `targets` (all when None); returns how many rows the table gained."""
    if targets is not None and not targets:
        return 0
    registry: dict[str, dict[str, Any]] = {}
    events = select(node_events).order_by(node_events.c.node, node_events.c.block, node_events.c.log_index)
    if targets is not None:
        events = events.where(node_events.c.node.in_(sorted(targets)))
    for row in conn.execute(events).mappings():
        if row["kind"] == "admitted":
            registry[row["node"]] = {"beneficiary": row["beneficiary"], "class_id": row["class_id"],
                                     "region": row["region"], "label": row["label"],
                                     "admitted_at": row["admitted_at"], "active": 1}
        else:
            registry.setdefault(row["node"], {})["active"] = 0
    class_info = {r["class_id"]: r for r in conn.execute(
        select(classes.c.class_id, classes.c.hardware_class, classes.c.unit)).mappings()}
    latest = proofs.alias("latest")
    newest = (select(latest.c.beneficiary).where(latest.c.node == proofs.c.node)
              .order_by(latest.c.epoch.desc()).limit(1))
    newest_class = (select(latest.c.class_id).where(latest.c.node == proofs.c.node)
                    .order_by(latest.c.epoch.desc()).limit(1))
    work = cast(proofs.c.work_units, Double)
    stats_query = select(
        proofs.c.node, func.count().label("proofs"), func.sum(proofs.c.work_units).label("work"),
        func.sum(proofs.c.energy_bound_mj).label("energy_bound"), func.sum(proofs.c.carbon_bound_mg).label("carbon"),
        exact_sum_text(proofs.c.credits_wei).label("credits"),
        func.sum(cast(proofs.c.efficiency_uj_per_unit, Double) * work).label("used_uj"),
        func.sum(cast(func.coalesce(proofs.c.baseline_uj_per_unit, proofs.c.efficiency_uj_per_unit), Double)
                 * work).label("baseline_uj"),
        func.min(proofs.c.epoch).label("first_epoch"), func.max(proofs.c.epoch).label("last_epoch"),
        newest.scalar_subquery().label("ben"), newest_class.scalar_subquery().label("cls"),
    ).group_by(proofs.c.node)
    if targets is not None:
        stats_query = stats_query.where(proofs.c.node.in_(sorted(targets)))
    stats = {row["node"]: row for row in conn.execute(stats_query).mappings()}
    if targets is None:
        removed = conn.execute(delete(nodes)).rowcount
        wanted = set(registry) | set(stats)
    else:
        removed = conn.execute(delete(nodes).where(nodes.c.node.in_(sorted(targets)))).rowcount
        wanted = (set(registry) | set(stats)) & targets
    rows = []
    for node in sorted(wanted):
        reg = registry.get(node, {})
        row: dict[str, Any] = {"node": node, "label": reg.get("label"), "beneficiary": reg.get("beneficiary"),
                               "class_id": reg.get("class_id"), "region": reg.get("region"),
                               "admitted_at": reg.get("admitted_at"), "active": reg.get("active", 0), "proofs": 0,
                               "work_units_total": 0, "energy_bound_mj_total": 0, "carbon_bound_mg": 0,
                               "credits_wei": "0", "credits_eco": 0.0, "efficiency_uj_per_unit": None,
                               "eco_score": None, "first_epoch": None, "last_epoch": None}
        s = stats.get(node)
        if s is not None:
            credits = parse_exact_sum(s["credits"])
            work_total = int(s["work"] or 0)
            row.update(beneficiary=row["beneficiary"] or s["ben"], class_id=row["class_id"] or s["cls"],
                       proofs=int(s["proofs"]), work_units_total=work_total,
                       energy_bound_mj_total=int(s["energy_bound"] or 0), carbon_bound_mg=int(s["carbon"] or 0),
                       credits_wei=str(credits), credits_eco=credits / WEI_PER_ECO,
                       first_epoch=s["first_epoch"], last_epoch=s["last_epoch"])
            if work_total > 0:
                efficiency = float(s["used_uj"]) / work_total
                row["efficiency_uj_per_unit"] = round(efficiency, 3)
                row["eco_score"] = epochs_eco_score([(efficiency, work_total, float(s["baseline_uj"]) / work_total)])
        info = class_info.get(row["class_id"])
        row["hardware_class"] = info["hardware_class"] if info is not None else None
        row["unit"] = info["unit"] if info is not None else None
        rows.append(row)
    if rows:
        conn.execute(insert(nodes), rows)
    return len(rows) - removed


def _refresh_ranks(conn: Connection) -> None:
    """Every node's position under each ordering (ranks shift for all nodes when one node's figures change);
    only rows whose position moved are written."""
    columns = [func.row_number().over(order_by=SORTS[key]).label(column) for key, column in RANK_COLUMNS.items()]
    columns += [func.row_number().over(partition_by=nodes.c.class_id, order_by=CLASS_SORTS[key]).label(column)
                for key, column in CLASS_RANK_COLUMNS.items()]
    ranked = select(nodes.c.node, *columns).subquery("r")
    all_columns = [*RANK_COLUMNS.values(), *CLASS_RANK_COLUMNS.values()]
    conn.execute(update(nodes).where(nodes.c.node == ranked.c.node)
                 .where(or_(*(nodes.c[c].is_distinct_from(ranked.c[c]) for c in all_columns)))
                 .values({c: ranked.c[c] for c in all_columns}))


def _refresh_class_counts(conn: Connection) -> None:
    counts = (select(func.count()).where(nodes.c.class_id == classes.c.class_id).scalar_subquery())
    conn.execute(update(classes).values(nodes=counts))


def _refresh_epochs(conn: Connection, epochs: set[int] | None) -> None:
    if epochs is not None and not epochs:
        return
    source = select(proofs.c.epoch, func.count(), func.sum(proofs.c.energy_bound_mj),
                    func.sum(proofs.c.carbon_bound_mg), func.sum(proofs.c.credits_eco),
                    func.min(proofs.c.epoch_start)).group_by(proofs.c.epoch)
    if epochs is None:
        conn.execute(delete(epoch_stats))
    else:
        conn.execute(delete(epoch_stats).where(epoch_stats.c.epoch.in_(sorted(epochs))))
        source = source.where(proofs.c.epoch.in_(sorted(epochs)))
    conn.execute(insert(epoch_stats).from_select(
        ["epoch", "proofs", "energy_bound_mj_total", "carbon_bound_mg", "credits_eco", "epoch_start"], source))


def _exact_total(conn: Connection, column: Any, *where: Any) -> int:
    return parse_exact_sum(conn.execute(select(exact_sum_text(column)).where(*where)).scalar())


# The totals row's counters and what each counts in the raw tables (every one is additive over blocks: a
# transaction lies in one block, so distinct settling transactions add up block range by block range).
WEI_TOTALS = ("credits_wei", "claimed_wei", "minted_wei", "retired_wei")
COUNT_TOTALS = ("nodes", "proofs", "energy_bound_mj_total", "carbon_bound_mg", "claims", "retirements", "settlements")


def range_totals(conn: Connection, after: int, upto: int | None) -> dict[str, int]:
    """What the raw rows with after < block ≤ upto (upto None: no upper bound) add to the totals row, `nodes`
    excepted (a node's row is derived, not raw). Each query uses its table's block index: O(rows in range)."""

    def in_range(table: Any) -> list[Any]:
        return [table.c.block > after] + ([table.c.block <= upto] if upto is not None else [])

    p = conn.execute(select(func.count(), func.coalesce(func.sum(proofs.c.energy_bound_mj), 0),
                            func.coalesce(func.sum(proofs.c.carbon_bound_mg), 0),
                            func.count(func.distinct(proofs.c.tx_hash))).where(*in_range(proofs))).one()
    return {
        "proofs": int(p[0]), "energy_bound_mj_total": int(p[1]), "carbon_bound_mg": int(p[2]),
        "settlements": int(p[3]),
        "credits_wei": _exact_total(conn, proofs.c.credits_wei, *in_range(proofs)),
        "claimed_wei": _exact_total(conn, claims.c.amount_wei, *in_range(claims)),
        "claims": int(conn.execute(select(func.count()).where(*in_range(claims))).scalar()),
        "minted_wei": _exact_total(conn, transfers.c.amount_wei, transfers.c.sender == ZERO_ADDRESS,
                                   *in_range(transfers)),
        "retired_wei": _exact_total(conn, retirements.c.amount_wei, *in_range(retirements)),
        "retirements": int(conn.execute(select(func.count()).where(*in_range(retirements))).scalar()),
    }


def totals_difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: value - before.get(key, 0) for key, value in after.items()}


def add_totals(conn: Connection, delta: dict[str, int]) -> None:
    """Move the totals row's running counters by `delta` (negative on a roll-back); wei stay exact (text)."""
    if not any(delta.values()):
        return
    current = conn.execute(select(totals).where(totals.c.id == 1)).mappings().one()
    values: dict[str, Any] = {}
    for key, change in delta.items():
        if change:
            new = int(current[key]) + change
            assert new >= 0, f"totals.{key} would fall below zero: the running counters drifted"
            values[key] = str(new) if key in WEI_TOTALS else new
    conn.execute(update(totals).where(totals.c.id == 1).values(**values))


def full_totals(conn: Connection) -> dict[str, int]:
    """The totals row as a full recount from the raw tables would have it (O(all rows): tests, repairs)."""
    return {**range_totals(conn, -(2**62), None),
            "nodes": int(conn.execute(select(func.count()).select_from(nodes)).scalar())}


def recount_totals(conn: Connection) -> None:
    """Set the totals row from a full recount (a full refresh; the indexer's batches use `add_totals`)."""
    conn.execute(update(totals).where(totals.c.id == 1).values(
        **{k: str(v) if k in WEI_TOTALS else v for k, v in full_totals(conn).items()}))


def exact_sum(values: Iterable[str]) -> int:
    return sum(int(v) for v in values)
