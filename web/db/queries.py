"""The read-only queries behind every page and API answer; each is one indexed lookup or a bounded range scan.

Rows come back as plain dicts (`row["node"]`, and `row.node` in templates). The statements are built once at
import and compiled once per dialect (SQLAlchemy writes the dialect's SQL, with bound parameters); a page's
reader then runs that SQL on the driver's connection directly (psycopg prepares it on the server after a few
runs), so a request pays for the round trip and the rows only, not for SQLAlchemy's per-execution machinery.
A connection in neither autocommit nor a transaction (where SQLAlchemy tracks the implicit one a read begins)
goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from web.db.schema import (INDEX_VERSION, LEADERBOARD_COLUMNS, batches, blocks, claims, classes, cursor,
                           epoch_stats, nodes, param_events, proofs, retirements, totals, verifications)
from web.db.summaries import CLASS_RANK_COLUMNS, RANK_COLUMNS, exact_sum_text, parse_exact_sum

NODE_PAGE_SIZE = 20  # proofs per page on a node page
NODE_CHART_EPOCHS = 100  # newest epochs in a node's chart
RETIREMENTS_PAGE_SIZE = 20
PROOF_ROW_COLUMNS = ("epoch", "class_id", "tier", "efficiency_uj_per_unit", "work_units", "methods",
                     "energy_bound_mj", "carbon_bound_mg", "credits_wei", "baseline_uj_per_unit", "epoch_start",
                     "epoch_end", "block", "timestamp", "tx_hash", "batch_size")
# What a node page shows of a proof (its chart and its table): a hundred rows of these cost half the full ones.
NODE_PAGE_COLUMNS = ("epoch", "efficiency_uj_per_unit", "work_units", "methods", "energy_bound_mj", "credits_wei",
                     "baseline_uj_per_unit", "epoch_start", "timestamp", "batch_size")

_TOTALS = select(totals).where(totals.c.id == 1)
_CURSOR = select(cursor.c.block, cursor.c.hash).where(cursor.c.id == 1)
_EPOCHS = select(epoch_stats).order_by(epoch_stats.c.epoch.desc()).limit(bindparam("limit"))
# Keyset pagination on the precomputed rank: `rank > offset` is an index range scan however deep the page
# (PostgreSQL: index-only, the rank indexes INCLUDE these columns).
# Each row also carries the page's total (the count of nodes ranked), so a page is one round trip.
_ALL_NODES = select(totals.c.nodes).where(totals.c.id == 1).scalar_subquery()
_CLASS_NODES = select(classes.c.nodes).where(classes.c.class_id == bindparam("class_id")).scalar_subquery()
_LEADERBOARD = {
    key: select(_ALL_NODES.label("total"), nodes.c[column].label("position"),
                *(nodes.c[c] for c in LEADERBOARD_COLUMNS))
    .where(nodes.c[column] > bindparam("after")).order_by(nodes.c[column]).limit(bindparam("size"))
    for key, column in RANK_COLUMNS.items()}
_CLASS_LEADERBOARD = {
    key: select(_CLASS_NODES.label("total"), nodes.c[column].label("position"),
                *(nodes.c[c] for c in LEADERBOARD_COLUMNS))
    .where(nodes.c.class_id == bindparam("class_id"), nodes.c[column] > bindparam("after"))
    .order_by(nodes.c[column]).limit(bindparam("size"))
    for key, column in CLASS_RANK_COLUMNS.items()}
_CLASSES = select(classes).order_by(classes.c.nodes.desc(), classes.c.class_id)
_CLASS = select(classes).where(classes.c.class_id == bindparam("class_id"))
_NODE = select(nodes).where(nodes.c.node == bindparam("node"))
# A node and its efficiency class (None when it has none, or one the index does not know) in one round trip.
CLASS_PREFIX = "class_"
_NODE_WITH_CLASS = (select(nodes, *(c.label(CLASS_PREFIX + c.name) for c in classes.c))
                    .select_from(nodes.outerjoin(classes, classes.c.class_id == nodes.c.class_id))
                    .where(nodes.c.node == bindparam("node")))
_NODE_PROOFS = (select(*(proofs.c[c] for c in PROOF_ROW_COLUMNS)).where(proofs.c.node == bindparam("node"))
                .order_by(proofs.c.epoch.desc()).limit(bindparam("size")).offset(bindparam("offset")))
_NODE_RECENT = (select(*(proofs.c[c] for c in NODE_PAGE_COLUMNS)).where(proofs.c.node == bindparam("node"))
                .order_by(proofs.c.epoch.desc()).limit(bindparam("size")))
_PROOF = select(proofs).where(proofs.c.node == bindparam("node"), proofs.c.epoch == bindparam("epoch"))
_SETTLED_WITH = (select(proofs.c.node, proofs.c.epoch, proofs.c.log_index).where(proofs.c.tx_hash == bindparam("tx"))
                 .order_by(proofs.c.log_index).limit(bindparam("limit")))
_BATCH = select(batches).where(batches.c.tx_hash == bindparam("tx")).limit(1)
_CLAIMS_OF = (select(claims).where(claims.c.beneficiary == bindparam("beneficiary"))
              .order_by(claims.c.block.desc(), claims.c.log_index.desc()).limit(bindparam("limit")))
_RETIREMENT_ROW = select(retirements, retirements.c.timestamp.label("retired_at"))
_CERTIFICATE = _RETIREMENT_ROW.where(retirements.c.token_id == bindparam("token_id"))
_RETIREMENTS = (_RETIREMENT_ROW.order_by(retirements.c.token_id.desc()).limit(bindparam("size"))
                .offset(bindparam("offset")))
_RETIREMENTS_OF = (_RETIREMENT_ROW.where(retirements.c.holder == bindparam("holder"))
                   .order_by(retirements.c.token_id.desc()).limit(bindparam("limit")))
_RETIREMENT_HOLDERS = (select(retirements.c.holder, exact_sum_text(retirements.c.amount_wei).label("amounts"),
                              func.count().label("certificates"))
                       .group_by(retirements.c.holder))
_VERIFICATION = select(verifications.c.result, verifications.c.verified_at).where(
    verifications.c.node == bindparam("node"), verifications.c.epoch == bindparam("epoch"),
    verifications.c.tx_hash == bindparam("tx"))
_PARAMS = (select(param_events.c.name, param_events.c.args, param_events.c.block, param_events.c.tx_hash,
                  blocks.c.timestamp)
           .select_from(param_events.outerjoin(blocks, blocks.c.number == param_events.c.block))
           .order_by(param_events.c.block, param_events.c.log_index))

METHOD_LABELS = {0: "measured", 1: "estimated", 2: "replayed"}


def method_labels(methods: int) -> tuple[str, str]:
    """(energy method, work method) of a proof's `methods` code (energy | work << 4)."""
    return (METHOD_LABELS.get(methods & 0xF, f"unknown ({methods & 0xF})"),
            METHOD_LABELS.get(methods >> 4, f"unknown ({methods >> 4})"))


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass
class Parameters:
    """The governance parameters as the indexed events set them: current values and every change, in order."""

    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # class id → EfficiencyClassSet values
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)  # region → grams_per_kwh
    schedule: list[dict[str, int]] = field(default_factory=list)  # segments: origin, first_epoch, length
    max_epoch_age_s: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # name, args, block, timestamp, tx_hash

    @property
    def epoch_length_s(self) -> int | None:
        """The length of the newest segment of the schedule (None before any EpochScheduleChanged)."""
        return self.schedule[-1]["length"] if self.schedule else None


Row = dict[str, Any]  # one result row: column name → value


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for one dialect: its SQL, the order of its parameters (positional paramstyles, e.g.
    SQLite's qmark; None: named, as psycopg's pyformat), the values of its literal parameters (`id = 1`) and,
    once known, its column names."""

    statement: Any  # kept alive: the cache is keyed by its id
    sql: str
    order: tuple[str, ...] | None
    fixed: dict[str, Any]
    names: list[tuple[str, ...]] = field(default_factory=list)

    def arguments(self, params: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        values = {**self.fixed, **params} if self.fixed else params
        return values if self.order is None else tuple(values[name] for name in self.order)


_COMPILED: dict[tuple[int, str, str], _Compiled] = {}


def _compile(statement: Executable, dialect: Any) -> _Compiled:
    key = (id(statement), dialect.name, dialect.driver)
    entry = _COMPILED.get(key)
    if entry is None:
        compiled = statement.compile(dialect=dialect)
        # Every parameter is a plain bound value: nothing rendered per execution, no bind-side conversion.
        assert not compiled.literal_execute_params and not compiled.post_compile_params, statement
        assert not getattr(compiled, "_bind_processors", None), statement  # checked once per statement
        entry = _COMPILED[key] = _Compiled(
            statement, compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None,
            {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required})
    return entry


class Reader:
    """Read-only queries over one connection: a Connection, or a factory of them (Database.reader), in which
    case a connection the server dropped (PostgreSQL restarted) is replaced on the next call."""

    def __init__(self, conn: Connection | Callable[[], Connection]) -> None:
        self._factory = None if isinstance(conn, Connection) else conn
        self._conn: Connection | None = conn if isinstance(conn, Connection) else None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            assert self._factory is not None
            self._conn = self._factory()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _rows(self, statement: Any, params: dict[str, Any] | None = None) -> list[Row]:
        conn = self.conn
        params = params or {}
        if not conn.in_transaction() and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            # A read outside autocommit begins a transaction: let SQLAlchemy begin (and track) it.
            return [dict(row) for row in self._execute(conn, lambda: conn.execute(statement, params).mappings())]
        dialect = conn.dialect
        compiled = _compile(statement, dialect)
        args = compiled.arguments(params)

        def run() -> list[Row]:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(compiled.sql, args)
                if not compiled.names:
                    compiled.names.append(tuple(column[0] for column in cursor.description))
                names = compiled.names[0]
                return [dict(zip(names, values)) for values in cursor.fetchall()]
            finally:
                cursor.close()

        try:
            return self._execute(conn, run)
        except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy would raise it: the app answers 503
            raise DBAPIError.instance(compiled.sql, args, exc, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from exc

    def _execute(self, conn: Connection, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as exc:
            if self._factory is not None and isinstance(exc, (DBAPIError, conn.dialect.loaded_dbapi.Error)):
                # A broken connection is not reused; the caller answers 503 this time.
                self._conn = None
                try:
                    conn.invalidate()
                except Exception:  # noqa: BLE001 - it is gone either way
                    pass
            raise

    def _one(self, statement: Any, params: dict[str, Any] | None = None) -> Row | None:
        rows = self._rows(statement, params)
        return rows[0] if rows else None

    def index_version(self) -> int:
        rows = self._rows(INDEX_VERSION)
        return 0 if not rows or rows[0]["value"] is None else int(rows[0]["value"])

    def totals(self) -> Row:
        row = self._one(_TOTALS)
        assert row is not None, "the totals row is created by the initial migration"
        return row

    def cursor(self) -> Row | None:
        return self._one(_CURSOR)

    def epoch_series(self, limit: int = 200) -> list[Row]:
        """The latest `limit` epochs' totals, oldest first."""
        rows = self._rows(_EPOCHS, {"limit": limit})
        rows.reverse()
        return rows

    def leaderboard(self, sort: str, page: int, size: int, class_id: str | None = None) -> Page:
        """One page of nodes by precomputed rank (an index range scan, however deep the page): over all nodes,
        or within `class_id`. Efficiency ranks only within a class (ValueError without one)."""
        if class_id is None:
            if sort not in _LEADERBOARD:
                raise ValueError(f"{sort} ranks only within an efficiency class")
            rows = self._rows(_LEADERBOARD[sort], {"after": (page - 1) * size, "size": size})
        else:
            rows = self._rows(_CLASS_LEADERBOARD[sort], {"class_id": class_id, "after": (page - 1) * size,
                                                         "size": size})
        if rows:  # every row carries the total
            total = int(rows[0]["total"])
            for row in rows:
                del row["total"]
        elif class_id is None:  # beyond the last page (or no nodes): the total still says how many pages
            total = int(self.totals()["nodes"])
        else:
            cls = self.efficiency_class(class_id)
            total = 0 if cls is None else int(cls["nodes"])
        return Page(rows, page, size, total)

    def classes(self) -> list[Row]:
        """Every efficiency class (current EfficiencyClassSet values, tiers as JSON text), most nodes first."""
        return self._rows(_CLASSES)

    def efficiency_class(self, class_id: str) -> Row | None:
        return self._one(_CLASS, {"class_id": class_id})

    def node(self, node: str) -> Row | None:
        return self._one(_NODE, {"node": node})

    def node_and_class(self, node: str) -> tuple[Row, Row | None] | None:
        """A node (as `node`) and its efficiency class (as `efficiency_class`; None without one), one lookup."""
        row = self._one(_NODE_WITH_CLASS, {"node": node})
        if row is None:
            return None
        node_row = {name: row[name] for name in nodes.c.keys()}
        if row[CLASS_PREFIX + "class_id"] is None:
            return node_row, None
        return node_row, {name: row[CLASS_PREFIX + name] for name in classes.c.keys()}

    def node_proofs(self, node: str, page: int, size: int, total: int) -> Page:
        """A node's proofs, newest first (a range of the (node, epoch) primary key)."""
        return Page(self._rows(_NODE_PROOFS, {"node": node, "size": size, "offset": (page - 1) * size}),
                    page, size, total)

    def node_recent(self, node: str, limit: int = NODE_CHART_EPOCHS) -> list[Row]:
        """A node's newest `limit` proofs, newest first, with the columns its page shows (NODE_PAGE_COLUMNS): its
        chart and its first pages in one range scan."""
        return self._rows(_NODE_RECENT, {"node": node, "size": limit})

    def node_chart(self, node: str, epochs: int = NODE_CHART_EPOCHS) -> list[Row]:
        """The newest `epochs` proofs of a node, oldest first (as node_recent): the data of its per-epoch chart."""
        rows = self.node_recent(node, epochs)
        rows.reverse()
        return rows

    def proof(self, node: str, epoch: int) -> Row | None:
        return self._one(_PROOF, {"node": node, "epoch": epoch})

    def settled_with(self, tx_hash: str, limit: int = 50) -> list[Row]:
        """The epochs (node, epoch, log_index) one transaction settled, in log order, at most `limit`."""
        return self._rows(_SETTLED_WITH, {"tx": tx_hash, "limit": limit})

    def batch(self, tx_hash: str) -> Row | None:
        """The BatchSettled event of a transaction (relayer, count, batch_hash), or None for a single submit."""
        return self._one(_BATCH, {"tx": tx_hash})

    def claims_of(self, beneficiary: str, limit: int = 20) -> list[Row]:
        return self._rows(_CLAIMS_OF, {"beneficiary": beneficiary, "limit": limit})

    def certificate(self, token_id: int) -> Row | None:
        """A retirement certificate (RetirementCertificate.Retired): token_id, holder, amount_wei (decimal text),
        amount_eco, beneficiary_name, message, block, timestamp (= retired_at, the block's time), tx_hash,
        log_index; None if not indexed."""
        if not 0 <= token_id < 2**63:
            return None
        return self._one(_CERTIFICATE, {"token_id": token_id})

    def retirements(self, page: int, size: int = RETIREMENTS_PAGE_SIZE) -> Page:
        """Retirement certificates, newest first (rows as `certificate`); total from the totals row."""
        total = int(self.totals()["retirements"])
        return Page(self._rows(_RETIREMENTS, {"size": size, "offset": (page - 1) * size}), page, size, total)

    def retirements_of(self, holder: str, limit: int = 20) -> list[Row]:
        """A holder's certificates, newest first (holder: checksummed address)."""
        return self._rows(_RETIREMENTS_OF, {"holder": holder, "limit": limit})

    def retirement_holders(self, limit: int = 20) -> list[dict[str, Any]]:
        """Holders by ECO retired, most first: holder, amount_wei (int, exact), certificates."""
        holders = [{"holder": r["holder"], "amount_wei": parse_exact_sum(r["amounts"]),
                    "certificates": int(r["certificates"])} for r in self._rows(_RETIREMENT_HOLDERS)]
        holders.sort(key=lambda h: (-h["amount_wei"], h["holder"]))
        return holders[:limit]

    def verification(self, node: str, epoch: int, tx_hash: str) -> dict[str, Any] | None:
        """The stored "verify again" result of a proof settled by `tx_hash`, or None if never verified."""
        row = self._one(_VERIFICATION, {"node": node, "epoch": epoch, "tx": tx_hash})
        if row is None:
            return None
        return {**json.loads(row["result"]), "verified_at": float(row["verified_at"])}

    def params(self) -> list[Row]:
        """Governance events in chain order (args as JSON text)."""
        return self._rows(_PARAMS)

    def parameters(self) -> Parameters:
        """The current governance values (the last event of each wins), the epoch schedule and the history."""
        result = Parameters()
        for row in self.params():
            args = json.loads(row["args"])
            result.history.append({"name": row["name"], "args": args, "block": row["block"],
                                   "timestamp": row["timestamp"], "tx_hash": row["tx_hash"]})
            if row["name"] == "EfficiencyClassSet":
                result.classes[str(args["classId"])] = {
                    "hardware_class": str(args["hardwareClass"]), "workload": str(args["workload"]),
                    "unit": str(args["unit"]), "quality_floor": str(args["qualityFloor"]),
                    "baseline_uj_per_unit": int(args["baselineUjPerUnit"]),
                    "tiers_uj_per_unit": [int(t) for t in args["tiersUjPerUnit"]],
                    "min_work_per_epoch": int(args["minWorkPerEpoch"]),
                    "max_units_per_second": int(args["maxUnitsPerSecond"]),
                    "require_measured": bool(args["requireMeasured"]), "block": row["block"]}
            elif row["name"] == "RegionCarbonSet":
                result.regions[args["region"]] = {"grams_per_kwh": int(args["gramsPerKwh"]), "block": row["block"]}
            elif row["name"] == "EpochScheduleChanged":
                segment = {"origin": int(args["origin"]), "first_epoch": int(args["firstEpoch"]),
                           "length": int(args["length"])}
                # A change replaces a still-pending last segment that starts at the same epoch.
                result.schedule = [s for s in result.schedule if s["first_epoch"] < segment["first_epoch"]]
                result.schedule.append(segment)
            elif row["name"] == "MaxEpochAgeSet":
                result.max_epoch_age_s = int(args["maxEpochAge"])
        return result
