"""The indexer against the real chain: what it stores, resuming, confirmations, idempotent replays, reorgs."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from sqlalchemy import func, insert, select, update

from oracle.chain.anvil import rpc_call
from web.chain import Chain
from web.db.engine import Database
from web.db.queries import Reader
from web.db.schema import claims, cursor, proofs, set_cursor, set_meta, transaction
from web.db.summaries import refresh
from web.indexer import Indexer

pytestmark = pytest.mark.chain


def make_indexer(web_chain, db: str, confirmations: int = 0, **kwargs) -> Indexer:
    return Indexer(db, Chain.connect(web_chain.deployment, web_chain.anvil.url), confirmations=confirmations,
                   **kwargs)


def reader_of(indexer: Indexer) -> Reader:
    """A page's view of what the indexer committed (its own connection stays the indexer's)."""
    return Reader(indexer.db.reader())


def test_indexed_proofs_match_the_chain(web_chain, index_url: str) -> None:
    indexer = make_indexer(web_chain, index_url)
    indexer.sync()
    reader = reader_of(indexer)
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


def test_replay_is_idempotent_and_a_restart_resumes(web_chain, index_url: str) -> None:
    db = index_url
    indexer = make_indexer(web_chain, db)
    head = indexer.sync()
    before = dict(reader_of(indexer).totals())
    # Replay everything from the deployment block: nothing may be counted twice.
    with transaction(indexer.conn):
        indexer.conn.execute(update(cursor).values(block=web_chain.deployment.block - 1, hash=""))
    assert indexer.sync() == head
    assert dict(reader_of(indexer).totals()) == before
    with transaction(indexer.conn):
        assert indexer.conn.execute(select(func.count()).select_from(proofs)).scalar() == 3
    indexer.close()
    # A new process resumes from the stored cursor: nothing to do.
    again = make_indexer(web_chain, db)
    assert again.step() == 0
    assert dict(reader_of(again).totals()) == before
    again.close()


def test_waits_for_confirmations(web_chain, tmp_path: Path) -> None:
    indexer = make_indexer(web_chain, str(tmp_path / "i.sqlite"), confirmations=3)
    head = web_chain.w3.eth.block_number
    assert indexer.sync() == head - 3
    indexer.close()


def test_reorg_below_the_cursor_rolls_back(web_chain, index_url: str) -> None:
    """A claim is indexed, then the chain reverts to a snapshot and grows a different branch: the claim goes.

    (The snapshot/revert leaves the shared chain as it was for the other tests.)"""
    url = web_chain.anvil.url
    ben_b = web_chain.accounts[4]
    indexer = make_indexer(web_chain, index_url)
    indexer.sync()
    before = dict(reader_of(indexer).totals())  # (another test may have claimed for another wallet)
    snapshot = rpc_call(url, "evm_snapshot")
    try:
        web_chain.transact(web_chain.green_proof.functions.claim(), ben_b)
        indexer.sync()
        assert reader_of(indexer).totals()["claims"] == before["claims"] + 1
        assert len(reader_of(indexer).claims_of(ben_b)) == 1
    finally:
        assert rpc_call(url, "evm_revert", [snapshot]) is True
    for _ in range(3):  # the new branch is longer than the old one
        rpc_call(url, "evm_mine")
    head = indexer.sync()
    reader = reader_of(indexer)
    assert indexer.status.reorgs == 1
    assert head == web_chain.w3.eth.block_number  # re-indexed up to the new branch's head
    assert reader.claims_of(ben_b) == []
    assert dict(reader.totals()) == before  # events below the fork stay, the claim's are gone
    assert web_chain.green_proof.functions.accrued(ben_b).call() > 0  # the claim really is undone on chain
    indexer.close()


def test_index_of_another_deployment_is_rebuilt(web_chain, index_url: str) -> None:
    db = Database(index_url)
    db.upgrade()
    with db.engine.connect() as conn, transaction(conn):
        set_meta(conn, "deployment", "1:0x0000000000000000000000000000000000000001:1")
        set_cursor(conn, 999999, "0xdead")
        conn.execute(insert(claims).values(tx_hash="0x1", log_index=0, beneficiary="0xB", recipient="0xB",
                                           amount_wei="5", amount_eco=5e-18, block=999999, timestamp=1))
        refresh(conn)
    indexer = make_indexer(web_chain, index_url)
    head = indexer.sync()
    assert head == web_chain.w3.eth.block_number
    reader = reader_of(indexer)
    assert reader.conn.execute(select(func.count()).select_from(claims).where(claims.c.tx_hash == "0x1")).scalar() == 0
    assert reader.totals()["proofs"] == 3
    indexer.close()
    db.dispose()


def test_two_indexers_one_writes_the_other_waits(web_chain, index_url: str, caplog) -> None:
    """Two indexer threads on one index: one takes the lock and indexes, the other logs that it waits for it;
    when the first stops, the second takes over from the cursor (nothing indexed twice)."""
    first = make_indexer(web_chain, index_url, owner="indexer-one")
    second = make_indexer(web_chain, index_url, owner="indexer-two")
    stop_first, stop_second = threading.Event(), threading.Event()
    caplog.set_level(logging.INFO, logger="ecoai.web.indexer")
    one = threading.Thread(target=first.run, args=(stop_first, 0.05))
    one.start()
    assert wait_until(lambda: first.status.indexed_block == web_chain.w3.eth.block_number)
    two = threading.Thread(target=second.run, args=(stop_second, 0.05))
    two.start()
    try:
        assert wait_until(lambda: "waiting for the indexer lock held by indexer-one" in caplog.text)
        assert second.status.indexed_block is None and not second.lock.held
        stop_first.set()
        one.join(10)
        first.close()  # releases the lock
        assert wait_until(lambda: second.lock.held and second.status.indexed_block == web_chain.w3.eth.block_number)
    finally:
        stop_first.set()
        stop_second.set()
        one.join(10)
        two.join(10)
    with transaction(second.conn):
        assert second.conn.execute(select(func.count()).select_from(proofs)).scalar() == 3
    assert reader_of(second).totals()["proofs"] == 3
    second.close()


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
