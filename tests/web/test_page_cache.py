"""The page cache: byte-identical to rendering, retired by every index change (indexed batch, reorg roll-back).

The first tests write rows the way the indexer does (raw rows + summaries.refresh in one transaction) into an
index that an app is serving; the last one drives the real indexer of the session's server with real chain events.
"""

from __future__ import annotations

import re
import urllib.request
import warnings
from pathlib import Path

import pytest

from web.cache import canonical_query
from web.db.engine import Database
from web.db.schema import index_version, transaction
from web.db.summaries import refresh, rollback_to

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from web.app import create_app

from chainsetup import wait_for  # noqa: E402  (tests/web/conftest.py puts it on sys.path)
from oracle.chain.anvil import rpc_call  # noqa: E402
from seed import CLASS_A, NODE_A, NODE_B, add_proof  # noqa: E402

PAGES = ["/", "/leaderboard", "/leaderboard?sort=eco_score&page=1&size=1",
         "/leaderboard?size=1&page=2&sort=eco_score", f"/leaderboard?sort=credits&class={CLASS_A}",
         f"/nodes/{NODE_A}", f"/nodes/{NODE_A}?page=2&size=1", f"/proofs/{NODE_A}/10", "/parameters",
         f"/proofs/{NODE_A}/10/public.json"]


def fetch(client: TestClient, path: str, fragment: bool = False) -> tuple[int, list[tuple[str, str]], bytes]:
    response = client.get(path, headers={"HX-Request": "true"} if fragment else {})
    return response.status_code, sorted(response.headers.multi_items()), response.content


@pytest.fixture
def clients(db: Path):
    with TestClient(create_app(db)) as cached, TestClient(create_app(db, cache_bytes=0)) as plain:
        yield cached, plain


def test_cached_pages_are_byte_identical_to_rendered_ones(clients) -> None:
    cached, plain = clients
    for path in PAGES:
        for fragment in (False, True):
            first = fetch(cached, path, fragment)  # miss: rendered and stored
            again = fetch(cached, path, fragment)  # hit: replayed
            assert first == again == fetch(plain, path, fragment), (path, fragment)
            assert first[0] == 200
    cache = cached.app.state.page_cache
    assert cache.hits == len(PAGES) * 2 and cache.misses == len(PAGES) * 2
    # A fragment and the whole page are different entries (HX-Request is part of the key).
    assert b"<html" not in fetch(cached, "/leaderboard", True)[2] and b"<html" in fetch(cached, "/leaderboard")[2]


def test_errors_and_live_routes_are_not_cached(clients) -> None:
    cached, _ = clients
    cache = cached.app.state.page_cache
    for _ in range(2):
        assert cached.get("/nodes/0x123").status_code == 400
        assert cached.get("/leaderboard?page=999").status_code == 404
        assert cached.get("/claim").status_code == 200
        assert cached.get("/api/totals").status_code == 200
    assert len(cache) == 0 and cache.hits == 0


def test_a_newly_indexed_proof_retires_cached_pages(db: Path, clients) -> None:
    cached, plain = clients
    before = {path: cached.get(path).content for path in PAGES}
    assert before == {path: cached.get(path).content for path in PAGES}  # now served from the cache
    conn = Database(db).engine.connect()
    with transaction(conn):  # as Indexer.step commits a batch
        add_proof(conn, NODE_B, 12, 0, 500, 8, "0x" + "08" * 32, 0, 1)
        refresh(conn, {NODE_B}, {12})
    after = cached.get("/").content
    assert after != before["/"] and after == plain.get("/").content
    assert re.search(rb'id="total-proofs">\s*4\s*<', after), after[:2000]
    board = cached.get("/leaderboard").content
    assert board != before["/leaderboard"] and board == plain.get("/leaderboard").content
    # A reorg roll-back (summaries.rollback_to, as Indexer._rewind does) retires them again.
    with transaction(conn):
        rollback_to(conn, 7, "0xc")
    conn.close()
    assert cached.get("/").content == before["/"] == plain.get("/").content
    assert cached.get("/leaderboard").content == before["/leaderboard"]


def test_index_version_counts_every_commit(db: Path) -> None:
    conn = Database(db).engine.connect()
    v0 = index_version(conn)
    with transaction(conn):
        refresh(conn, set(), set())  # a batch without events still moves the cursor shown on pages
    with transaction(conn):
        rollback_to(conn, 5, "0xa")
    assert index_version(conn) == v0 + 2
    conn.close()


BOARD = frozenset({"sort", "page", "size"})


def test_canonical_query_keeps_meaning_and_drops_the_rest() -> None:
    assert canonical_query(b"page=2&sort=proofs", BOARD) == canonical_query(b"sort=proofs&page=2", BOARD)
    assert canonical_query(b"page=1&page=2", BOARD) != canonical_query(b"page=2&page=1", BOARD)  # the last one wins
    assert canonical_query(b"page=1&page=2", BOARD) == canonical_query(b"page=2", BOARD)
    assert canonical_query(b"sort=%3Cscript%3E", BOARD) == "sort=%3Cscript%3E"
    assert canonical_query(b"junk=1&page=2&x=%3C", BOARD) == "page=2"
    assert canonical_query(b"page=2", frozenset()) == canonical_query(b"", BOARD) == ""


def test_unknown_query_parameters_share_one_entry(clients) -> None:
    cached, plain = clients
    cache = cached.app.state.page_cache
    first = cached.get("/leaderboard?sort=proofs").content
    for i in range(1, 201):
        assert cached.get(f"/leaderboard?sort=proofs&junk={i}").content == first
    assert cached.get(f"/proofs/{NODE_A}/10?junk=1").content == plain.get(f"/proofs/{NODE_A}/10").content
    assert len(cache) == 2 and cache.misses == 2 and cache.hits == 200


@pytest.mark.chain
def test_server_pages_follow_new_events_and_reorgs(web_server, web_chain) -> None:
    """The real indexer thread of the session's server: a new event (a claim, or a retirement when no beneficiary
    has credits left to claim: other tests share the chain) changes the cached overview, and a reorg that
    removes it brings the old figures back. (Snapshot/revert leaves the shared chain as it was.)"""
    url = web_chain.anvil.url
    green, credit, certificate = web_chain.green_proof, web_chain.eco_credit, web_chain.certificate

    def overview() -> str:
        return urllib.request.urlopen(web_server.url + "/", timeout=5).read().decode()

    def counted(text: str) -> tuple[int, int]:
        return (int(re.search(r"(\d+) claims? ·", text).group(1)),
                int(re.search(r"(\d+) certificates?<", text).group(1)))

    def indexed_block(text: str) -> int:
        return int(re.search(r"Indexed up to block (\d+) ", text).group(1))

    beneficiaries = web_chain.accounts[3:5]
    head = web_chain.w3.eth.block_number
    wait_for(lambda: indexed_block(overview()) == head, "the server to index the head")
    before = overview()
    assert overview() == before  # (served from the cache)
    claims, retirements = counted(before)
    snapshot = rpc_call(url, "evm_snapshot")
    try:
        claimer = next((b for b in beneficiaries if green.functions.accrued(b).call() > 0), None)
        if claimer is not None:
            web_chain.transact(green.functions.claim(), claimer)
            expected = (claims + 1, retirements)
        else:
            holder = next(b for b in beneficiaries if credit.functions.balanceOf(b).call() > 0)
            web_chain.transact(credit.functions.approve(certificate.address, 1), holder)
            web_chain.transact(certificate.functions.retire(1, "", ""), holder)
            expected = (claims, retirements + 1)
        wait_for(lambda: counted(overview()) == expected, "the new event to appear on the cached overview")
    finally:
        assert rpc_call(url, "evm_revert", [snapshot]) is True
    for _ in range(3):  # the new branch is longer than the old one
        rpc_call(url, "evm_mine")
    wait_for(lambda: indexed_block(overview()) == head + 3, "the server to follow the new branch")
    after = overview()
    assert counted(after) == (claims, retirements)  # the rolled-back event is gone from the page
    assert after.replace(f"block {head + 3} ", f"block {head} ") == before
