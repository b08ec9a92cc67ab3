"""Rows written straight into the web index's raw tables, as the indexer would, for tests without a chain.

They put hostile values (a governance-chosen hardware class with markup) where only a chain could otherwise
put them. Works on either backend (a SQLite path or a database URL).
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import insert

from oracle.conventions import WEI_PER_ECO, carbon_bound_mg, credits_wei
from web.db.engine import Database
from web.db.schema import blocks, node_events, param_events, proofs, set_cursor, transaction
from web.db.summaries import refresh

NODE_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NODE_B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
BEN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
HOSTILE = "<script>alert(1)</script>"
BASELINE = 3_500_000
GRAMS_PER_KWH = 431


def credits(threshold: int) -> int:
    return credits_wei(BASELINE, threshold)


def add_proof(conn, node: str, epoch: int, threshold: int, block: int) -> None:
    c = credits(threshold)
    conn.execute(insert(proofs).values(
        node=node, epoch=epoch, beneficiary=BEN, tier=0, threshold_mj=threshold, commitment="123",
        carbon_mg=carbon_bound_mg(threshold, GRAMS_PER_KWH), credits_wei=str(c), credits_eco=c / WEI_PER_ECO,
        block=block, timestamp=1_700_000_000 + block, tx_hash=f"0x{block:064x}", log_index=0, gas_used=210_000))


def add_param_event(conn, log_index: int, name: str, args: dict, block: int) -> None:
    conn.execute(insert(param_events).values(tx_hash=f"0x{block:064x}", log_index=log_index, name=name,
                                             args=json.dumps(args), block=block))


def seed_index(location: Path | str) -> Path | str:
    """Two nodes (A with a hostile hardware class), three proofs in blocks 5-7, governance events in block 1."""
    db = Database(location)
    db.upgrade()
    with db.engine.connect() as conn, transaction(conn):
        conn.execute(insert(node_events), [
            {"tx_hash": "0x01", "log_index": 0, "node": NODE_A, "kind": "admitted", "beneficiary": BEN,
             "hardware_class": HOSTILE, "region": "KR", "block": 1},
            {"tx_hash": "0x02", "log_index": 0, "node": NODE_B, "kind": "admitted", "beneficiary": BEN,
             "hardware_class": "H100", "region": "FR", "block": 1}])
        add_param_event(conn, 0, "HardwareClassSet",
                        {"hardwareClass": HOSTILE, "baselineMj": BASELINE, "tiersMj": [1_000_000, 1_500_000]}, 1)
        add_param_event(conn, 1, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": 500}, 1)
        add_param_event(conn, 0, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": GRAMS_PER_KWH}, 2)
        add_param_event(conn, 2, "EpochLengthSet", {"epochLength": 3600}, 1)
        add_param_event(conn, 3, "MaxEpochAgeSet", {"maxEpochAge": 86_400}, 1)
        add_proof(conn, NODE_A, 10, 1_000_000, 5)
        add_proof(conn, NODE_A, 11, 1_500_000, 6)
        add_proof(conn, NODE_B, 11, 2_250_000, 7)
        conn.execute(insert(blocks), [{"number": n, "hash": h, "timestamp": n}
                                      for n, h in ((1, "0x1"), (2, "0x2"), (5, "0xa"), (6, "0xb"), (7, "0xc"))])
        set_cursor(conn, 7, "0xc")
        refresh(conn)
    db.dispose()
    return location
