"""One indexer at a time (the `indexer_lock` row) and covering leaderboard indexes on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02

The lock: web/db/lock.py. The leaderboard's rank indexes carry every column a leaderboard row shows
(PostgreSQL INCLUDE), so a page is an index-only scan; SQLite has no INCLUDE and keeps the plain ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RANK_KEYS = ("credits", "saved_share", "proofs", "threshold_total")
LEADERBOARD_COLUMNS = ["node", "beneficiary", "hardware_class", "region", "active", "proofs", "threshold_mj_total",
                       "carbon_mg", "credits_wei", "credits_eco", "saved_share_pct", "last_epoch"]


def upgrade() -> None:
    op.create_table("indexer_lock",
                    sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True, autoincrement=False),
                    sa.Column("owner", sa.Text, nullable=False), sa.Column("acquired_at", sa.Double, nullable=False),
                    sa.Column("heartbeat", sa.Double, nullable=False))
    if op.get_context().dialect.name == "postgresql":
        for key in RANK_KEYS:
            op.drop_index(f"nodes_by_{key}", table_name="nodes")
            op.create_index(f"nodes_by_{key}", "nodes", [f"rank_{key}"], postgresql_include=LEADERBOARD_COLUMNS)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for key in RANK_KEYS:
            op.drop_index(f"nodes_by_{key}", table_name="nodes")
            op.create_index(f"nodes_by_{key}", "nodes", [f"rank_{key}"])
    op.drop_table("indexer_lock")
