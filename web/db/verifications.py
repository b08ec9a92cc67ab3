"""Stored "verify again" results: the one thing the web app (not the indexer) writes into the index.

An accepted proof never changes, so the first verification of (node, epoch, settling transaction) is kept and
every later request is answered from it. The row carries the proof's block, so a reorg roll-back that removes
the proof removes its verification too (summaries.rollback_to).
"""

from __future__ import annotations

import json
import time
from typing import Any

from web.db.engine import Database
from web.db.schema import transaction, upsert, verifications


def store_verification(db: Database, node: str, epoch: int, tx_hash: str, block: int, result: dict[str, Any]) -> None:
    """Keep a complete verification result (both verifiers answered); a result with an error is not kept."""
    with db.engine.connect() as conn, transaction(conn):
        upsert(conn, verifications, {"node": node, "epoch": epoch, "tx_hash": tx_hash, "block": block,
                                     "result": json.dumps(result, separators=(",", ":")),
                                     "verified_at": time.time()}, ("node", "epoch"))
