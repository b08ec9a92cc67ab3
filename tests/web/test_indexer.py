"""The indexer against the real chain: what it stores, resuming, confirmations, idempotent replays, reorgs."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from sqlalchemy import func, insert, select, update

from chainsetup import ENCODER
from oracle.chain.anvil import rpc_call
from oracle.conventions import efficiency_credits_wei, energy_bound_mj
from tests.conftest import wait_for
from web.chain import Chain
from web.db.engine import Database
from web.db.queries import Reader
from web.db.schema import claims, cursor, proofs, set_cursor, set_meta, transaction
from web.db.summaries import full_totals, refresh
from web.indexer import Indexer

pytestmark = pytest.mark.chain


def make_indexer(web_chain, db: str, confirmations: int = 0, **kwargs) -> Indexer:
    return Indexer(db, Chain.connect(web_chain.deployment, web_chain.anvil.url), confirmations=confirmations,
                   **kwargs)


def reader_of(indexer: Indexer) -> Reader:
    """A page's view of what the indexer committed (its own connection stays the indexer's)."""
    return Reader(indexer.db.reader())


def assert_totals_are_a_recount(indexer: Indexer) -> None:
    """The running counters of the totals row (moved batch by batch and reversed on roll-back) equal a full
    recount from the raw tables."""
    reader = reader_of(indexer)
    row = dict(reader.totals())
    recount = full_totals(reader.conn)
    assert {k: int(row[k]) for k in recount} == recount
    reader.close()


def test_indexed_proofs_match_the_chain(web_chain, index_url: str) -> None:
    indexer = make_indexer(web_chain, index_url)
    indexer.sync()
    reader = reader_of(indexer)
    green = web_chain.green_proof
    classes = web_chain.deployment.params["classes"]
    epoch_length = web_chain.deployment.params["epoch_length_s"]
    for proof in web_chain.proofs:
        row = reader.proof(proof["node"], proof["epoch"])
        cls = classes[proof["class_id"]]
        tau, work = proof["efficiency_uj_per_unit"], proof["work"]
        assert green.functions.isAccepted(proof["node"], proof["epoch"]).call()
        assert (row["class_id"], row["tier"], row["efficiency_uj_per_unit"], row["work_units"], row["methods"]) == \
            (proof["class_id"], proof["tier"], tau, work, proof["methods"])
        assert row["energy_bound_mj"] == energy_bound_mj(tau, work)
        assert int(row["credits_wei"]) == efficiency_credits_wei(cls["baseline_uj_per_unit"], tau, work,
                                                                 cls["max_units_per_second"], epoch_length)
        assert row["baseline_uj_per_unit"] == cls["baseline_uj_per_unit"]
        start, end = green.functions.epochBounds(proof["epoch"]).call()
        assert (row["epoch_start"], row["epoch_end"]) == (start, end)
        assert row["tx_hash"] == proof["tx_hash"] and int(row["commitment"]) == proof["commitment"]
        assert row["batch_size"] == proof["batch_size"]
        assert row["settled_by"] == proof.get("relayer", proof["node"])
        assert json.loads(row["proof"]) == [str(x) for x in proof["proof"]]  # from the calldata
        assert 150_000 < row["gas_used"] < 1_000_000  # from the receipt
    batch_tx = web_chain.proofs[-1]["tx_hash"]
    assert len(reader.settled_with(batch_tx)) == 2 and reader.batch(batch_tx)["count"] == 2
    assert reader.batch(web_chain.proofs[0]["tx_hash"]) is None  # a single submit
    node_a, node_b, ben_a = web_chain.accounts[1], web_chain.accounts[2], web_chain.accounts[3]
    a = reader.node(node_a)
    assert (a["label"], a["beneficiary"], a["class_id"], a["hardware_class"], a["region"], a["active"]) == \
        ("seoul-encoder-1", ben_a, ENCODER, "H200", "KR", 1)
    assert a["admitted_at"] == green.functions.nodeInfo(node_a).call()[4]
    assert reader.node(node_b)["region"] == "FR" and reader.node(node_b)["label"] == "paris-mlp-1"
    assert {r["name"] for r in reader.params()} >= {"EfficiencyClassSet", "RegionCarbonSet", "EpochScheduleChanged",
                                                    "MaxEpochAgeSet"}
    params = reader.parameters()  # the /parameters page's values, as the contract holds them now
    assert [(s["origin"], s["first_epoch"], s["length"]) for s in params.schedule] == \
        [tuple(s) for s in green.functions.schedule().call()]
    assert set(params.classes) == set(classes) and set(params.regions) >= {"KR", "FR"}
    assert {c["class_id"]: c["nodes"] for c in reader.classes()}[ENCODER] == 1
    retired = web_chain.retirement
    cert = reader.certificate(1)
    assert (cert["holder"], int(cert["amount_wei"]), cert["beneficiary_name"], cert["message"], cert["tx_hash"]) == \
        (retired["holder"], retired["amount_wei"], retired["beneficiary_name"], retired["message"], retired["tx_hash"])
    assert int(reader.totals()["retired_wei"]) == web_chain.certificate.functions.totalRetired().call()
    assert reader.totals()["settlements"] == 2
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
    indexer = make_indexer(web_chain, index_url, batch_blocks=3)  # several batches: the totals add up
    indexer.sync()
    assert_totals_are_a_recount(indexer)
    before = dict(reader_of(indexer).totals())  # (another test may have claimed for another wallet)
    snapshot = rpc_call(url, "evm_snapshot")
    try:
        web_chain.transact(web_chain.green_proof.functions.claim(), ben_b)
        indexer.sync()
        assert reader_of(indexer).totals()["claims"] == before["claims"] + 1
        assert len(reader_of(indexer).claims_of(ben_b)) == 1
        assert_totals_are_a_recount(indexer)
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
    assert_totals_are_a_recount(indexer)  # the roll-back reversed exactly what the claim's blocks had added
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
    wait_for(lambda: first.status.indexed_block == web_chain.w3.eth.block_number, 30, "the first indexer")
    two = threading.Thread(target=second.run, args=(stop_second, 0.05))
    two.start()
    try:
        wait_for(lambda: "waiting for the indexer lock held by indexer-one" in caplog.text, 30, "the wait line")
        assert second.status.indexed_block is None and not second.lock.held
        stop_first.set()
        one.join(10)
        first.close()  # releases the lock
        wait_for(lambda: second.lock.held and second.status.indexed_block == web_chain.w3.eth.block_number, 30,
                 "the second indexer to take over")
    finally:
        stop_first.set()
        stop_second.set()
        one.join(10)
        two.join(10)
    with transaction(second.conn):
        assert second.conn.execute(select(func.count()).select_from(proofs)).scalar() == 3
    assert reader_of(second).totals()["proofs"] == 3
    second.close()
