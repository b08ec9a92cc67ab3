"""The indexer against the real chain: what it stores, resuming, confirmations, idempotent replays, reorgs."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.chain.anvil import rpc_call
from oracle.sqlite import transaction
from web.chain import Chain
from web.db.queries import Reader
from web.db.schema import open_store, set_meta
from web.db.summaries import refresh
from web.indexer import Indexer

pytestmark = pytest.mark.chain


def make_indexer(web_chain, db: Path, confirmations: int = 0) -> Indexer:
    return Indexer(db, Chain.connect(web_chain.deployment, web_chain.anvil.url), confirmations=confirmations)


def test_indexed_proofs_match_the_chain(web_chain, tmp_path: Path) -> None:
    indexer = make_indexer(web_chain, tmp_path / "i.sqlite")
    indexer.sync()
    reader = Reader(indexer.conn)
    green = web_chain.green_proof
    for proof in web_chain.proofs:
        row = reader.proof(proof["node"], proof["epoch"])
        record = green.functions.recordOf(proof["node"], proof["epoch"]).call()
        _accepted_at, tier, threshold, carbon_mg, credits = record
        assert (row["tier"], row["threshold_mj"], row["carbon_mg"], int(row["credits_wei"])) == \
            (tier, threshold, carbon_mg, credits)
        assert row["tx_hash"] == proof["tx_hash"] and int(row["commitment"]) == proof["commitment"]
        assert 150_000 < row["gas_used"] < 400_000  # from the receipt
    node_a, node_b, ben_a = web_chain.accounts[1], web_chain.accounts[2], web_chain.accounts[3]
    a = reader.node(node_a)
    assert (a["beneficiary"], a["hardware_class"], a["region"], a["active"]) == (ben_a, "H200", "KR", 1)
    assert reader.node(node_b)["region"] == "FR"
    assert {r["name"] for r in reader.params()} >= {"HardwareClassSet", "RegionCarbonSet", "EpochLengthSet"}
    params = reader.parameters()  # the /parameters page's values, as the contract holds them now
    assert params.epoch_length_s == green.functions.epochLength().call()
    assert set(params.hardware_classes) >= {"H200", "H100"} and set(params.regions) >= {"KR", "FR"}
    indexer.close()


def test_replay_is_idempotent_and_a_restart_resumes(web_chain, tmp_path: Path) -> None:
    db = tmp_path / "i.sqlite"
    indexer = make_indexer(web_chain, db)
    head = indexer.sync()
    before = dict(Reader(indexer.conn).totals())
    # Replay everything from the deployment block: nothing may be counted twice.
    with transaction(indexer.conn):
        indexer.conn.execute("UPDATE cursor SET block = ?, hash = ''", (web_chain.deployment.block - 1,))
    assert indexer.sync() == head
    assert dict(Reader(indexer.conn).totals()) == before
    assert indexer.conn.execute("SELECT COUNT(*) FROM proofs").fetchone()[0] == 3
    indexer.close()
    # A new process resumes from the stored cursor: nothing to do.
    again = make_indexer(web_chain, db)
    assert again.step() == 0
    assert dict(Reader(again.conn).totals()) == before
    again.close()


def test_waits_for_confirmations(web_chain, tmp_path: Path) -> None:
    indexer = make_indexer(web_chain, tmp_path / "i.sqlite", confirmations=3)
    head = web_chain.w3.eth.block_number
    assert indexer.sync() == head - 3
    indexer.close()


def test_reorg_below_the_cursor_rolls_back(web_chain, tmp_path: Path) -> None:
    """A claim is indexed, then the chain reverts to a snapshot and grows a different branch: the claim goes.

    (The snapshot/revert leaves the shared chain as it was for the other tests.)"""
    url = web_chain.anvil.url
    ben_b = web_chain.accounts[4]
    indexer = make_indexer(web_chain, tmp_path / "i.sqlite")
    indexer.sync()
    before = dict(Reader(indexer.conn).totals())  # (another test may have claimed for another wallet)
    snapshot = rpc_call(url, "evm_snapshot")
    try:
        web_chain.transact(web_chain.green_proof.functions.claim(), ben_b)
        indexer.sync()
        assert Reader(indexer.conn).totals()["claims"] == before["claims"] + 1
        assert len(Reader(indexer.conn).claims_of(ben_b)) == 1
    finally:
        assert rpc_call(url, "evm_revert", [snapshot]) is True
    for _ in range(3):  # the new branch is longer than the old one
        rpc_call(url, "evm_mine")
    head = indexer.sync()
    reader = Reader(indexer.conn)
    assert indexer.status.reorgs == 1
    assert head == web_chain.w3.eth.block_number  # re-indexed up to the new branch's head
    assert reader.claims_of(ben_b) == []
    assert dict(reader.totals()) == before  # events below the fork stay, the claim's are gone
    assert web_chain.green_proof.functions.accrued(ben_b).call() > 0  # the claim really is undone on chain
    indexer.close()


def test_index_of_another_deployment_is_rebuilt(web_chain, tmp_path: Path) -> None:
    db = tmp_path / "i.sqlite"
    conn = open_store(db)
    with transaction(conn):
        set_meta(conn, "deployment", "1:0x0000000000000000000000000000000000000001:1")
        conn.execute("INSERT INTO cursor VALUES (1, 999999, '0xdead')")
        conn.execute("INSERT INTO claims VALUES ('0x1', 0, '0xB', '0xB', '5', 5e-18, 999999, 1)")
        refresh(conn)
    conn.close()
    indexer = make_indexer(web_chain, db)
    head = indexer.sync()
    assert head == web_chain.w3.eth.block_number
    assert indexer.conn.execute("SELECT COUNT(*) FROM claims WHERE tx_hash = '0x1'").fetchone()[0] == 0
    assert Reader(indexer.conn).totals()["proofs"] == 3
    indexer.close()
