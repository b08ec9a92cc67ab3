"""v2: efficiency proofs (class, tier in µJ per unit, work units, methods), batch settlement, node labels,
efficiency classes, the epoch schedule, retirements, stored verifications.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

The index is a cache of public chain data, and v1 rows cannot be turned into v2 ones (v1 events carry no work,
class or methods). So this revision drops every table of the index except the migration's own bookkeeping and
the indexer lock, creates the v2 tables empty, and forgets the cursor: the indexer re-reads the events from
the deployment block. It only drops tables that exist, so it never fails on an index of any earlier state.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

KEEP = {"alembic_version", "indexer_lock", "meta"}
LEADERBOARD_COLUMNS = ["node", "label", "beneficiary", "class_id", "hardware_class", "unit", "region", "active",
                       "proofs", "work_units_total", "energy_bound_mj_total", "carbon_bound_mg", "credits_wei",
                       "credits_eco", "efficiency_uj_per_unit", "eco_score", "last_epoch"]
RANK_KEYS = ("credits", "eco_score", "proofs")
CLASS_RANK_KEYS = ("efficiency", "credits", "eco_score", "proofs")


def _event_key() -> list[sa.Column]:
    return [sa.Column("tx_hash", sa.Text, primary_key=True),
            sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False)]


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    include = {"postgresql_include": LEADERBOARD_COLUMNS} if postgresql else {}
    for table in sa.inspect(bind).get_table_names():
        if table not in KEEP:
            op.drop_table(table)
    if "meta" not in sa.inspect(bind).get_table_names():
        op.create_table("meta", sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.Text, nullable=False))
    # The index no longer describes any deployment: the indexer binds it again and starts from its block.
    op.execute("DELETE FROM meta WHERE key IN ('deployment', 'schema_version')")
    op.create_table("cursor", sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True,
                                        autoincrement=False),
                    sa.Column("block", Big, nullable=False), sa.Column("hash", sa.Text, nullable=False))
    op.create_table("blocks", sa.Column("number", Big, primary_key=True, autoincrement=False),
                    sa.Column("hash", sa.Text, nullable=False), sa.Column("timestamp", Big, nullable=False))
    op.create_table(
        "proofs",
        sa.Column("node", sa.Text, primary_key=True), sa.Column("epoch", Big, primary_key=True, autoincrement=False),
        sa.Column("beneficiary", sa.Text, nullable=False), sa.Column("class_id", sa.Text, nullable=False),
        sa.Column("tier", sa.Integer, nullable=False), sa.Column("efficiency_uj_per_unit", Big, nullable=False),
        sa.Column("work_units", Big, nullable=False), sa.Column("methods", sa.Integer, nullable=False),
        sa.Column("commitment", sa.Text, nullable=False), sa.Column("energy_bound_mj", Big, nullable=False),
        sa.Column("carbon_bound_mg", Big, nullable=False), sa.Column("credits_wei", sa.Text, nullable=False),
        sa.Column("credits_eco", sa.Double, nullable=False), sa.Column("baseline_uj_per_unit", Big),
        sa.Column("epoch_start", Big), sa.Column("epoch_end", Big),
        sa.Column("block", Big, nullable=False), sa.Column("timestamp", Big, nullable=False),
        sa.Column("tx_hash", sa.Text, nullable=False), sa.Column("log_index", sa.Integer, nullable=False),
        sa.Column("gas_used", Big), sa.Column("batch_size", sa.Integer, nullable=False, server_default="1"),
        sa.Column("settled_by", sa.Text), sa.Column("proof", sa.Text),
        sqlite_with_rowid=False)
    op.create_index("proofs_by_block", "proofs", ["block"])
    op.create_index("proofs_by_epoch", "proofs", ["epoch"])
    op.create_index("proofs_by_tx", "proofs", ["tx_hash"])
    op.create_table("batches", *_event_key(),
                    sa.Column("relayer", sa.Text, nullable=False), sa.Column("count", Big, nullable=False),
                    sa.Column("batch_hash", sa.Text, nullable=False), sa.Column("block", Big, nullable=False))
    op.create_index("batches_by_block", "batches", ["block"])
    op.create_table("claims", *_event_key(),
                    sa.Column("beneficiary", sa.Text, nullable=False), sa.Column("recipient", sa.Text, nullable=False),
                    sa.Column("amount_wei", sa.Text, nullable=False),
                    sa.Column("amount_eco", sa.Double, nullable=False),
                    sa.Column("block", Big, nullable=False), sa.Column("timestamp", Big, nullable=False))
    op.create_index("claims_by_block", "claims", ["block"])
    op.create_index("claims_by_beneficiary", "claims", ["beneficiary"])
    op.create_table("transfers", *_event_key(),
                    sa.Column("sender", sa.Text, nullable=False), sa.Column("recipient", sa.Text, nullable=False),
                    sa.Column("amount_wei", sa.Text, nullable=False), sa.Column("block", Big, nullable=False))
    op.create_index("transfers_by_block", "transfers", ["block"])
    op.create_table(
        "retirements",
        sa.Column("token_id", Big, primary_key=True, autoincrement=False),
        sa.Column("holder", sa.Text, nullable=False), sa.Column("amount_wei", sa.Text, nullable=False),
        sa.Column("amount_eco", sa.Double, nullable=False), sa.Column("beneficiary_name", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False), sa.Column("block", Big, nullable=False),
        sa.Column("timestamp", Big, nullable=False), sa.Column("tx_hash", sa.Text, nullable=False),
        sa.Column("log_index", sa.Integer, nullable=False))
    op.create_index("retirements_by_block", "retirements", ["block"])
    op.create_index("retirements_by_holder", "retirements", ["holder", "token_id"])
    op.create_table("node_events", *_event_key(),
                    sa.Column("node", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
                    sa.Column("beneficiary", sa.Text), sa.Column("class_id", sa.Text),
                    sa.Column("region", sa.Text), sa.Column("label", sa.Text), sa.Column("admitted_at", Big),
                    sa.Column("block", Big, nullable=False))
    op.create_index("node_events_by_node", "node_events", ["node", "block", "log_index"])
    op.create_index("node_events_by_block", "node_events", ["block"])
    op.create_table("param_events", *_event_key(),
                    sa.Column("name", sa.Text, nullable=False), sa.Column("args", sa.Text, nullable=False),
                    sa.Column("block", Big, nullable=False))
    op.create_index("param_events_by_block", "param_events", ["block"])
    op.create_table("verifications",
                    sa.Column("node", sa.Text, primary_key=True),
                    sa.Column("epoch", Big, primary_key=True, autoincrement=False),
                    sa.Column("tx_hash", sa.Text, nullable=False), sa.Column("block", Big, nullable=False),
                    sa.Column("result", sa.Text, nullable=False), sa.Column("verified_at", sa.Double, nullable=False))
    op.create_index("verifications_by_block", "verifications", ["block"])
    op.create_table(
        "nodes",
        sa.Column("node", sa.Text, primary_key=True), sa.Column("label", sa.Text), sa.Column("beneficiary", sa.Text),
        sa.Column("class_id", sa.Text), sa.Column("hardware_class", sa.Text), sa.Column("unit", sa.Text),
        sa.Column("region", sa.Text), sa.Column("admitted_at", Big),
        sa.Column("active", sa.Integer, nullable=False, server_default="0"),
        sa.Column("proofs", Big, nullable=False, server_default="0"),
        sa.Column("work_units_total", Big, nullable=False, server_default="0"),
        sa.Column("energy_bound_mj_total", Big, nullable=False, server_default="0"),
        sa.Column("carbon_bound_mg", Big, nullable=False, server_default="0"),
        sa.Column("credits_wei", sa.Text, nullable=False, server_default="0"),
        sa.Column("credits_eco", sa.Double, nullable=False, server_default="0"),
        sa.Column("efficiency_uj_per_unit", sa.Double), sa.Column("eco_score", sa.Double),
        sa.Column("first_epoch", Big), sa.Column("last_epoch", Big),
        *(sa.Column(f"rank_{key}", Big) for key in RANK_KEYS),
        *(sa.Column(f"class_rank_{key}", Big) for key in CLASS_RANK_KEYS))
    for key in RANK_KEYS:
        op.create_index(f"nodes_by_{key}", "nodes", [f"rank_{key}"], **include)
    for key in CLASS_RANK_KEYS:
        op.create_index(f"nodes_by_class_{key}", "nodes", ["class_id", f"class_rank_{key}"], **include)
    op.create_table(
        "classes",
        sa.Column("class_id", sa.Text, primary_key=True), sa.Column("hardware_class", sa.Text, nullable=False),
        sa.Column("workload", sa.Text, nullable=False), sa.Column("unit", sa.Text, nullable=False),
        sa.Column("quality_floor", sa.Text, nullable=False), sa.Column("baseline_uj_per_unit", Big, nullable=False),
        sa.Column("tiers_uj_per_unit", sa.Text, nullable=False), sa.Column("min_work_per_epoch", Big, nullable=False),
        sa.Column("max_units_per_second", Big, nullable=False),
        sa.Column("require_measured", sa.Integer, nullable=False), sa.Column("block", Big, nullable=False),
        sa.Column("nodes", Big, nullable=False, server_default="0"))
    totals = op.create_table(
        "totals",
        sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
        sa.Column("nodes", Big, nullable=False), sa.Column("proofs", Big, nullable=False),
        sa.Column("energy_bound_mj_total", Big, nullable=False), sa.Column("carbon_bound_mg", Big, nullable=False),
        sa.Column("credits_wei", sa.Text, nullable=False), sa.Column("claimed_wei", sa.Text, nullable=False),
        sa.Column("minted_wei", sa.Text, nullable=False), sa.Column("claims", Big, nullable=False),
        sa.Column("retired_wei", sa.Text, nullable=False, server_default="0"),
        sa.Column("retirements", Big, nullable=False, server_default="0"),
        sa.Column("settlements", Big, nullable=False, server_default="0"))
    op.create_table("epoch_stats", sa.Column("epoch", Big, primary_key=True, autoincrement=False),
                    sa.Column("proofs", Big, nullable=False),
                    sa.Column("energy_bound_mj_total", Big, nullable=False),
                    sa.Column("carbon_bound_mg", Big, nullable=False),
                    sa.Column("credits_eco", sa.Double, nullable=False), sa.Column("epoch_start", Big))
    op.bulk_insert(totals, [{"id": 1, "nodes": 0, "proofs": 0, "energy_bound_mj_total": 0, "carbon_bound_mg": 0,
                             "credits_wei": "0", "claimed_wei": "0", "minted_wei": "0", "claims": 0,
                             "retired_wei": "0", "retirements": 0, "settlements": 0}])
    # Pages cached under the old index version are stale: move it on.
    version = bind.execute(sa.text("SELECT value FROM meta WHERE key = 'index_version'")).scalar()
    if version is None:
        op.execute("INSERT INTO meta (key, value) VALUES ('index_version', '1')")
    else:
        bind.execute(sa.text("UPDATE meta SET value = :v WHERE key = 'index_version'"), {"v": str(int(version) + 1)})


def downgrade() -> None:
    raise NotImplementedError("the web index is a cache of the chain: delete it (or its database) and let the "
                              "indexer rebuild it instead of downgrading below 0003")
