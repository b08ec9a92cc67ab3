"""Initial schema: the index as the pre-Alembic `open_store` made it (schema_version 2).

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types (a revision never imports the live schema, which moves on).
Big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _event_key() -> list[sa.Column]:
    return [sa.Column("tx_hash", sa.Text, primary_key=True),
            sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False)]


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table("cursor", sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True,
                                        autoincrement=False),
                    sa.Column("block", Big, nullable=False), sa.Column("hash", sa.Text, nullable=False))
    op.create_table("blocks", sa.Column("number", Big, primary_key=True, autoincrement=False),
                    sa.Column("hash", sa.Text, nullable=False), sa.Column("timestamp", Big, nullable=False))
    op.create_table(
        "proofs",
        sa.Column("node", sa.Text, primary_key=True), sa.Column("epoch", Big, primary_key=True, autoincrement=False),
        sa.Column("beneficiary", sa.Text, nullable=False), sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("threshold_mj", Big, nullable=False), sa.Column("commitment", sa.Text, nullable=False),
        sa.Column("carbon_mg", Big, nullable=False), sa.Column("credits_wei", sa.Text, nullable=False),
        sa.Column("credits_eco", sa.Double, nullable=False), sa.Column("block", Big, nullable=False),
        sa.Column("timestamp", Big, nullable=False), sa.Column("tx_hash", sa.Text, nullable=False),
        sa.Column("log_index", sa.Integer, nullable=False), sa.Column("gas_used", Big),
        sqlite_with_rowid=False)
    op.create_index("proofs_by_block", "proofs", ["block"])
    op.create_index("proofs_by_epoch", "proofs", ["epoch"])
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
    op.create_table("node_events", *_event_key(),
                    sa.Column("node", sa.Text, nullable=False), sa.Column("kind", sa.Text, nullable=False),
                    sa.Column("beneficiary", sa.Text), sa.Column("hardware_class", sa.Text),
                    sa.Column("region", sa.Text), sa.Column("block", Big, nullable=False))
    op.create_index("node_events_by_node", "node_events", ["node", "block", "log_index"])
    op.create_index("node_events_by_block", "node_events", ["block"])
    op.create_table("param_events", *_event_key(),
                    sa.Column("name", sa.Text, nullable=False), sa.Column("args", sa.Text, nullable=False),
                    sa.Column("block", Big, nullable=False))
    op.create_index("param_events_by_block", "param_events", ["block"])
    op.create_table(
        "nodes",
        sa.Column("node", sa.Text, primary_key=True), sa.Column("beneficiary", sa.Text),
        sa.Column("hardware_class", sa.Text), sa.Column("region", sa.Text),
        sa.Column("active", sa.Integer, nullable=False, server_default="0"),
        sa.Column("proofs", Big, nullable=False, server_default="0"),
        sa.Column("threshold_mj_total", Big, nullable=False, server_default="0"),
        sa.Column("carbon_mg", Big, nullable=False, server_default="0"),
        sa.Column("credits_wei", sa.Text, nullable=False, server_default="0"),
        sa.Column("credits_eco", sa.Double, nullable=False, server_default="0"),
        sa.Column("saved_share_pct", sa.Double, nullable=False, server_default="0"),
        sa.Column("first_epoch", Big), sa.Column("last_epoch", Big),
        sa.Column("rank_credits", Big), sa.Column("rank_saved_share", Big), sa.Column("rank_proofs", Big),
        sa.Column("rank_threshold_total", Big))
    for key in ("credits", "saved_share", "proofs", "threshold_total"):
        op.create_index(f"nodes_by_{key}", "nodes", [f"rank_{key}"])
    totals = op.create_table(
        "totals",
        sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
        sa.Column("nodes", Big, nullable=False), sa.Column("proofs", Big, nullable=False),
        sa.Column("threshold_mj_total", Big, nullable=False), sa.Column("carbon_mg", Big, nullable=False),
        sa.Column("credits_wei", sa.Text, nullable=False), sa.Column("claimed_wei", sa.Text, nullable=False),
        sa.Column("minted_wei", sa.Text, nullable=False), sa.Column("claims", Big, nullable=False))
    op.create_table("epoch_stats", sa.Column("epoch", Big, primary_key=True, autoincrement=False),
                    sa.Column("proofs", Big, nullable=False), sa.Column("threshold_mj_total", Big, nullable=False),
                    sa.Column("carbon_mg", Big, nullable=False), sa.Column("credits_eco", sa.Double, nullable=False))
    op.bulk_insert(totals, [{"id": 1, "nodes": 0, "proofs": 0, "threshold_mj_total": 0, "carbon_mg": 0,
                             "credits_wei": "0", "claimed_wei": "0", "minted_wei": "0", "claims": 0}])
    op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")


def downgrade() -> None:
    for table in ("epoch_stats", "totals", "nodes", "param_events", "node_events", "transfers", "claims", "proofs",
                  "blocks", "cursor", "meta"):
        op.drop_table(table)
