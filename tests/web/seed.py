"""Rows written straight into the web index's raw tables, as the indexer would, for tests without a chain.

They put hostile values (a governance-chosen hardware class with markup) where only a chain could otherwise
put them.
"""

from __future__ import annotations

import json
from pathlib import Path

from oracle.conventions import WEI_PER_ECO, carbon_bound_mg, credits_wei
from oracle.sqlite import transaction
from web.db.schema import open_store
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
    conn.execute("INSERT INTO proofs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 (node, epoch, BEN, 0, threshold, "123", carbon_bound_mg(threshold, GRAMS_PER_KWH), str(c),
                  c / WEI_PER_ECO, block, 1_700_000_000 + block, f"0x{block:064x}", 0, 210_000))


def add_param_event(conn, log_index: int, name: str, args: dict, block: int) -> None:
    conn.execute("INSERT INTO param_events VALUES (?, ?, ?, ?, ?)",
                 (f"0x{block:064x}", log_index, name, json.dumps(args), block))


def seed_index(path: Path) -> Path:
    """Two nodes (A with a hostile hardware class), three proofs in blocks 5-7, governance events in block 1."""
    conn = open_store(path)
    with transaction(conn):
        conn.execute("INSERT INTO node_events VALUES ('0x01', 0, ?, 'admitted', ?, ?, 'KR', 1)",
                     (NODE_A, BEN, HOSTILE))
        conn.execute("INSERT INTO node_events VALUES ('0x02', 0, ?, 'admitted', ?, 'H100', 'FR', 1)", (NODE_B, BEN))
        add_param_event(conn, 0, "HardwareClassSet",
                        {"hardwareClass": HOSTILE, "baselineMj": BASELINE, "tiersMj": [1_000_000, 1_500_000]}, 1)
        add_param_event(conn, 1, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": 500}, 1)
        add_param_event(conn, 0, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": GRAMS_PER_KWH}, 2)
        add_param_event(conn, 2, "EpochLengthSet", {"epochLength": 3600}, 1)
        add_param_event(conn, 3, "MaxEpochAgeSet", {"maxEpochAge": 86_400}, 1)
        add_proof(conn, NODE_A, 10, 1_000_000, 5)
        add_proof(conn, NODE_A, 11, 1_500_000, 6)
        add_proof(conn, NODE_B, 11, 2_250_000, 7)
        conn.execute("INSERT INTO blocks VALUES (1, '0x1', 1), (2, '0x2', 2), (5, '0xa', 5), (6, '0xb', 6),"
                     " (7, '0xc', 7)")
        conn.execute("INSERT INTO cursor VALUES (1, 7, '0xc')")
        refresh(conn)
    conn.close()
    return path
