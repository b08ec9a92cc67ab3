"""Rows written straight into the web index's raw tables, as the indexer would, for tests without a chain.

They put hostile values (a node label, a class's quality floor and a retirement message with markup) where
only a chain could otherwise put them. Works on either backend (a SQLite path or a database URL).

Two nodes in class CLASS_A (β = 1000 µJ/token), three proofs (A's epoch 11 and B's epoch 11 settled together in
one batch transaction), a second class without nodes, one retirement certificate.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import insert

from oracle.conventions import WEI_PER_ECO, efficiency_carbon_bound_mg, efficiency_credits_wei, energy_bound_mj
from web.db.engine import Database
from web.db.schema import batches, blocks, node_events, param_events, proofs, retirements, set_cursor, transaction
from web.db.summaries import refresh

NODE_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NODE_B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
BEN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
HOLDER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
HOSTILE = "<script>alert(1)</script>"
CLASS_A = "H200/llm-8b/token"
CLASS_B = "H100/sdxl/image"
BASELINE = 1000  # µJ per token
TIERS = [400, 600, 800]
MAX_RATE = 1_000_000
EPOCH_LENGTH = 3600
GRAMS_PER_KWH = 431
BATCH_TX = "0x" + "bb" * 32
# (node, epoch, tier, work units, block, tx)
PROOFS = [(NODE_A, 10, 0, 1000, 5, "0x" + "05" * 32), (NODE_A, 11, 1, 3000, 6, BATCH_TX),
          (NODE_B, 11, 2, 2000, 6, BATCH_TX)]


def credits(tier: int, work: int) -> int:
    return efficiency_credits_wei(BASELINE, TIERS[tier], work, MAX_RATE, EPOCH_LENGTH)


def add_proof(conn, node: str, epoch: int, tier: int, work: int, block: int, tx_hash: str, log_index: int,
              batch_size: int) -> None:
    c = credits(tier, work)
    tau = TIERS[tier]
    conn.execute(insert(proofs).values(
        node=node, epoch=epoch, beneficiary=BEN, class_id=CLASS_A, tier=tier, efficiency_uj_per_unit=tau,
        work_units=work, methods=0 if node == NODE_A else 2 | (1 << 4), commitment="123",
        energy_bound_mj=energy_bound_mj(tau, work),
        carbon_bound_mg=efficiency_carbon_bound_mg(tau, work, GRAMS_PER_KWH), credits_wei=str(c),
        credits_eco=c / WEI_PER_ECO, baseline_uj_per_unit=BASELINE, epoch_start=epoch * EPOCH_LENGTH,
        epoch_end=(epoch + 1) * EPOCH_LENGTH, block=block, timestamp=1_700_000_000 + block, tx_hash=tx_hash,
        log_index=log_index, gas_used=210_000, batch_size=batch_size, settled_by=node))


def add_param_event(conn, log_index: int, name: str, args: dict, block: int) -> None:
    conn.execute(insert(param_events).values(tx_hash=f"0x{block:064x}", log_index=log_index, name=name,
                                             args=json.dumps(args), block=block))


def class_args(class_id: str, hardware: str, unit: str, baseline: int, tiers: list[int], quality: str) -> dict:
    return {"classId": class_id, "hardwareClass": hardware, "workload": class_id.split("/")[1], "unit": unit,
            "qualityFloor": quality, "baselineUjPerUnit": baseline, "tiersUjPerUnit": tiers, "minWorkPerEpoch": 1,
            "maxUnitsPerSecond": MAX_RATE, "requireMeasured": False}


def seed_index(location: Path | str) -> Path | str:
    """The rows above, blocks 1-7, governance events in blocks 1-2."""
    db = Database(location)
    db.upgrade()
    with db.engine.connect() as conn, transaction(conn):
        conn.execute(insert(node_events), [
            {"tx_hash": "0x01", "log_index": 0, "node": NODE_A, "kind": "admitted", "beneficiary": BEN,
             "class_id": CLASS_A, "region": "KR", "label": HOSTILE, "admitted_at": 0, "block": 1},
            {"tx_hash": "0x02", "log_index": 0, "node": NODE_B, "kind": "admitted", "beneficiary": BEN,
             "class_id": CLASS_A, "region": "FR", "label": "paris-1", "admitted_at": 0, "block": 1}])
        add_param_event(conn, 0, "EfficiencyClassSet",
                        class_args(CLASS_A, "H200", "token", BASELINE, TIERS, HOSTILE), 1)
        add_param_event(conn, 4, "EfficiencyClassSet",
                        class_args(CLASS_B, "H100", "image", 2_000_000, [500_000, 1_000_000], "FID <= 25"), 1)
        add_param_event(conn, 1, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": 500}, 1)
        add_param_event(conn, 0, "RegionCarbonSet", {"region": "KR", "gramsPerKwh": GRAMS_PER_KWH}, 2)
        add_param_event(conn, 2, "EpochScheduleChanged", {"origin": 0, "firstEpoch": 0, "length": EPOCH_LENGTH}, 1)
        add_param_event(conn, 3, "MaxEpochAgeSet", {"maxEpochAge": 86_400}, 1)
        for i, (node, epoch, tier, work, block, tx) in enumerate(PROOFS):
            add_proof(conn, node, epoch, tier, work, block, tx, i, 2 if tx == BATCH_TX else 1)
        conn.execute(insert(batches).values(tx_hash=BATCH_TX, log_index=9, relayer=NODE_B, count=2,
                                            batch_hash="0x" + "cd" * 32, block=6))
        conn.execute(insert(retirements).values(
            token_id=1, holder=HOLDER, amount_wei=str(10**18 // 4), amount_eco=0.25, beneficiary_name="Acme",
            message=HOSTILE, block=7, timestamp=1_700_000_007, tx_hash="0x" + "07" * 32, log_index=0))
        conn.execute(insert(blocks), [{"number": n, "hash": h, "timestamp": n}
                                      for n, h in ((1, "0x1"), (2, "0x2"), (5, "0xa"), (6, "0xb"), (7, "0xc"))])
        set_cursor(conn, 7, "0xc")
        refresh(conn)
    db.dispose()
    return location
