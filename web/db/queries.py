"""The read-only queries behind every page and API answer; each is one indexed lookup or a bounded range scan.

Rows come back as mappings (`row["node"]`, and `row.node` in templates). The statements are built once at
import: SQLAlchemy then reuses their compiled form, so a request pays for binding and the round trip only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import DBAPIError

from web.db.schema import INDEX_VERSION, LEADERBOARD_COLUMNS, blocks, claims, cursor, epoch_stats, nodes, \
    param_events, proofs, totals
from web.db.summaries import RANK_COLUMNS

NODE_PAGE_SIZE = 20  # proofs per page on a node page
NODE_CHART_EPOCHS = 100  # newest epochs in a node's chart
PROOF_ROW_COLUMNS = ("epoch", "tier", "threshold_mj", "carbon_mg", "credits_wei", "block", "timestamp", "tx_hash")

_TOTALS = select(totals).where(totals.c.id == 1)
_CURSOR = select(cursor.c.block, cursor.c.hash).where(cursor.c.id == 1)
_EPOCHS = select(epoch_stats).order_by(epoch_stats.c.epoch.desc()).limit(bindparam("limit"))
# Keyset pagination on the precomputed rank: `rank > offset` is an index range scan however deep the page
# (PostgreSQL: index-only, the rank indexes INCLUDE these columns).
_LEADERBOARD = {
    key: select(nodes.c[column].label("position"), *(nodes.c[c] for c in LEADERBOARD_COLUMNS))
    .where(nodes.c[column] > bindparam("after")).order_by(nodes.c[column]).limit(bindparam("size"))
    for key, column in RANK_COLUMNS.items()}
_NODE = select(nodes).where(nodes.c.node == bindparam("node"))
_NODE_PROOFS = (select(*(proofs.c[c] for c in PROOF_ROW_COLUMNS)).where(proofs.c.node == bindparam("node"))
                .order_by(proofs.c.epoch.desc()).limit(bindparam("size")).offset(bindparam("offset")))
_PROOF = select(proofs).where(proofs.c.node == bindparam("node"), proofs.c.epoch == bindparam("epoch"))
_CLAIMS_OF = (select(claims).where(claims.c.beneficiary == bindparam("beneficiary"))
              .order_by(claims.c.block.desc(), claims.c.log_index.desc()).limit(bindparam("limit")))
_PARAMS = (select(param_events.c.name, param_events.c.args, param_events.c.block, param_events.c.tx_hash,
                  blocks.c.timestamp)
           .select_from(param_events.outerjoin(blocks, blocks.c.number == param_events.c.block))
           .order_by(param_events.c.block, param_events.c.log_index))


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

    hardware_classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # class → baseline_mj, tiers_mj
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)  # region → grams_per_kwh
    epoch_length_s: int | None = None
    max_epoch_age_s: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # name, args, block, timestamp, tx_hash


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

    def _rows(self, statement: Any, params: dict[str, Any] | None = None) -> list[RowMapping]:
        try:
            return list(self.conn.execute(statement, params or {}).mappings())
        except DBAPIError:
            if self._factory is not None:  # a broken connection is not reused; the caller answers 503 this time
                conn, self._conn = self._conn, None
                try:
                    conn.invalidate() if conn is not None else None
                except Exception:  # noqa: BLE001 - it is gone either way
                    pass
            raise

    def _one(self, statement: Any, params: dict[str, Any] | None = None) -> RowMapping | None:
        rows = self._rows(statement, params)
        return rows[0] if rows else None

    def index_version(self) -> int:
        rows = self._rows(INDEX_VERSION)
        return 0 if not rows or rows[0]["value"] is None else int(rows[0]["value"])

    def totals(self) -> RowMapping:
        row = self._one(_TOTALS)
        assert row is not None, "the totals row is created by the initial migration"
        return row

    def cursor(self) -> RowMapping | None:
        return self._one(_CURSOR)

    def epoch_series(self, limit: int = 200) -> list[RowMapping]:
        """The latest `limit` epochs' totals, oldest first."""
        rows = self._rows(_EPOCHS, {"limit": limit})
        rows.reverse()
        return rows

    def leaderboard(self, sort: str, page: int, size: int) -> Page:
        """One page of nodes by precomputed rank: an index range scan, however deep the page."""
        total = int(self.totals()["nodes"])
        rows = self._rows(_LEADERBOARD[sort], {"after": (page - 1) * size, "size": size})
        return Page(rows, page, size, total)

    def node(self, node: str) -> RowMapping | None:
        return self._one(_NODE, {"node": node})

    def node_proofs(self, node: str, page: int, size: int, total: int) -> Page:
        """A node's proofs, newest first (a range of the (node, epoch) primary key)."""
        return Page(self._rows(_NODE_PROOFS, {"node": node, "size": size, "offset": (page - 1) * size}),
                    page, size, total)

    def node_recent(self, node: str, limit: int = NODE_CHART_EPOCHS) -> list[RowMapping]:
        """A node's newest `limit` proof rows, newest first: its chart and its first page in one range scan."""
        return self._rows(_NODE_PROOFS, {"node": node, "size": limit, "offset": 0})

    def node_chart(self, node: str, epochs: int = NODE_CHART_EPOCHS) -> list[RowMapping]:
        """The newest `epochs` proofs of a node, oldest first: the data of its per-epoch chart."""
        rows = self.node_recent(node, epochs)
        rows.reverse()
        return rows

    def proof(self, node: str, epoch: int) -> RowMapping | None:
        return self._one(_PROOF, {"node": node, "epoch": epoch})

    def claims_of(self, beneficiary: str, limit: int = 20) -> list[RowMapping]:
        return self._rows(_CLAIMS_OF, {"beneficiary": beneficiary, "limit": limit})

    def params(self) -> list[RowMapping]:
        """Governance events in chain order (args as JSON text)."""
        return self._rows(_PARAMS)

    def parameters(self) -> Parameters:
        """The current governance values (the last event of each wins) and their history."""
        result = Parameters()
        for row in self.params():
            args = json.loads(row["args"])
            result.history.append({"name": row["name"], "args": args, "block": row["block"],
                                   "timestamp": row["timestamp"], "tx_hash": row["tx_hash"]})
            if row["name"] == "HardwareClassSet":
                result.hardware_classes[args["hardwareClass"]] = {
                    "baseline_mj": int(args["baselineMj"]), "tiers_mj": [int(t) for t in args["tiersMj"]],
                    "block": row["block"]}
            elif row["name"] == "RegionCarbonSet":
                result.regions[args["region"]] = {"grams_per_kwh": int(args["gramsPerKwh"]), "block": row["block"]}
            elif row["name"] == "EpochLengthSet":
                result.epoch_length_s = int(args["epochLength"])
            elif row["name"] == "MaxEpochAgeSet":
                result.max_epoch_age_s = int(args["maxEpochAge"])
        return result
