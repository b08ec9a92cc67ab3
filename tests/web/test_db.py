"""The web index (web/db) on SQLite and PostgreSQL: exact summaries and ranks, reorg roll-back, migrations,
governance parameters, and the one-indexer lock."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, insert, select, text

from oracle.carbon.ecoscore import epochs_eco_score
from seed import BASELINE, BATCH_TX, BEN, CLASS_A, CLASS_B, HOLDER, HOSTILE, NODE_A, NODE_B, PROOFS, credits
from web.db.engine import Database
from web.db.lock import IndexerLock
from web.db.queries import Reader, method_labels
from web.db.schema import claims, epoch_stats, get_meta, nodes, transaction, verifications
from web.db.summaries import full_totals, range_totals, refresh, rollback_to


def reader_of(location: str) -> Reader:
    return Reader(Database(location).reader())


def test_summaries_are_exact_and_ranked(seeded: str) -> None:
    reader = reader_of(seeded)
    a = reader.node(NODE_A)
    assert (a["proofs"], a["work_units_total"], a["label"], a["class_id"], a["unit"]) == \
        (2, 4000, HOSTILE, CLASS_A, "token")
    assert a["energy_bound_mj_total"] == 400 + 1800  # ceil(τ·W/1000) per epoch
    assert int(a["credits_wei"]) == credits(0, 1000) + credits(1, 3000)  # exact, beyond 2^63 safe
    assert a["efficiency_uj_per_unit"] == pytest.approx((400 * 1000 + 600 * 3000) / 4000)  # work-weighted: 550
    assert a["eco_score"] == epochs_eco_score([(400, 1000, BASELINE), (600, 3000, BASELINE)]) == 45.0
    totals = reader.totals()
    assert totals["proofs"] == 3 and totals["nodes"] == 2 and totals["energy_bound_mj_total"] == 3800
    assert int(totals["credits_wei"]) == credits(0, 1000) + credits(1, 3000) + credits(2, 2000)
    assert (totals["retirements"], int(totals["retired_wei"])) == (1, 10**18 // 4)
    assert totals["settlements"] == 2  # three epochs in two transactions (one a batch of two)
    by_efficiency = reader.leaderboard("efficiency", 1, 10, CLASS_A).rows
    assert [(r["node"], r["position"]) for r in by_efficiency] == [(NODE_A, 1), (NODE_B, 2)]  # 550 < 800 µJ
    by_credits = reader.leaderboard("credits", 1, 10).rows
    assert [r["node"] for r in by_credits] == [NODE_A, NODE_B] and [r["position"] for r in by_credits] == [1, 2]
    assert [r["node"] for r in reader.leaderboard("eco_score", 1, 10).rows] == [NODE_A, NODE_B]  # 45 > 20
    assert reader.leaderboard("efficiency", 1, 10, CLASS_B).rows == []  # a class without nodes
    with pytest.raises(ValueError):
        reader.leaderboard("efficiency", 1, 10)  # efficiency compares only within a class
    assert [(c["class_id"], c["nodes"]) for c in reader.classes()] == [(CLASS_A, 2), (CLASS_B, 0)]
    assert [r[0] for r in reader.conn.execute(select(epoch_stats.c.epoch).order_by(epoch_stats.c.epoch))] == [10, 11]
    reader.close()


def test_settlement_and_retirement_queries(seeded: str) -> None:
    reader = reader_of(seeded)
    proof = reader.proof(NODE_B, 11)
    assert (proof["batch_size"], proof["tx_hash"]) == (2, BATCH_TX)
    assert [(r["node"], r["epoch"]) for r in reader.settled_with(BATCH_TX)] == [(NODE_A, 11), (NODE_B, 11)]
    assert reader.batch(BATCH_TX)["count"] == 2 and reader.batch(PROOFS[0][5]) is None
    assert method_labels(proof["methods"]) == ("replayed", "estimated")
    assert method_labels(reader.proof(NODE_A, 10)["methods"]) == ("measured", "measured")
    cert = reader.certificate(1)
    assert (cert["holder"], cert["amount_wei"], cert["beneficiary_name"], cert["message"]) == \
        (HOLDER, str(10**18 // 4), "Acme", HOSTILE)
    assert cert["retired_at"] == cert["timestamp"] == 1_700_000_007
    assert reader.certificate(2) is None and reader.certificate(2**70) is None
    page = reader.retirements(1)
    assert (page.total, [r["token_id"] for r in page.rows]) == (1, [1])
    assert [r["token_id"] for r in reader.retirements_of(HOLDER)] == [1] and reader.retirements_of(BEN) == []
    assert reader.retirement_holders() == [{"holder": HOLDER, "amount_wei": 10**18 // 4, "certificates": 1}]
    reader.close()


def test_the_index_stores_no_html(seeded: str) -> None:
    db = Database(seeded)
    with db.engine.connect() as conn:
        columns = {c["name"] for table in ("nodes", "totals", "epoch_stats")
                   for c in inspect(conn).get_columns(table)}
        assert not any("html" in c for c in columns), columns
        assert "node_pages" not in inspect(conn).get_table_names()
        hostile = conn.execute(select(nodes.c.label).where(nodes.c.node == NODE_A)).scalar()
    assert hostile == HOSTILE  # stored as the chain said it; escaping is the templates' job
    db.dispose()


def test_rollback_forgets_events_above_the_fork_and_rebuilds(seeded: str) -> None:
    db = Database(seeded)
    with db.engine.connect() as conn:
        with transaction(conn):
            store = {"node": NODE_B, "epoch": 11, "tx_hash": BATCH_TX, "block": 6, "result": "{}", "verified_at": 1.0}
            conn.execute(insert(verifications).values(**store))
        with transaction(conn):
            rollback_to(conn, 5, "0xa")
    reader = reader_of(seeded)
    assert reader.totals()["proofs"] == 1 and reader.totals()["retirements"] == 0
    recount = full_totals(reader.conn)  # the roll-back subtracted what blocks 6+ had added: a recount agrees
    assert {k: int(reader.totals()[k]) for k in recount} == recount
    assert reader.node(NODE_B)["proofs"] == 0  # admitted at block 1, its proof (block 6) is gone
    assert reader.node(NODE_A)["proofs"] == 1
    assert reader.verification(NODE_B, 11, BATCH_TX) is None  # its stored verification went with it
    cursor = reader.cursor()
    assert (cursor["block"], cursor["hash"]) == (5, "0xa")
    reader.close()
    db.dispose()


def test_totals_are_running_counters_that_a_roll_back_reverses(seeded: str) -> None:
    """A batch adds what its block range's rows add (no rescan); rolling the batch back restores the totals
    before it, exactly (wei beyond 64 bits included); after each step the totals equal a full recount."""
    db = Database(seeded)
    reader = reader_of(seeded)
    before = dict(reader.totals())
    cursor = int(reader.cursor()["block"])
    big = 3 * 10**30  # beyond 64 bits: exact text arithmetic on both backends
    with db.engine.connect() as conn:
        with transaction(conn):
            conn.execute(insert(claims).values(tx_hash="0xc1", log_index=0, beneficiary=BEN, recipient=BEN,
                                               amount_wei=str(big), amount_eco=big / 1e18, block=cursor + 1,
                                               timestamp=1))
            refresh(conn, set(), set(), range_totals(conn, cursor, cursor + 1))
        after = dict(reader.totals())
        assert int(after["claims"]) == int(before["claims"]) + 1
        assert int(after["claimed_wei"]) == int(before["claimed_wei"]) + big
        recount = full_totals(conn)
        assert {k: int(after[k]) for k in recount} == recount
        with transaction(conn):
            rollback_to(conn, cursor, "0xback")
    assert dict(reader.totals()) == before
    reader.close()
    db.dispose()


def test_parameters_are_the_last_event_of_each_and_keep_history(seeded: str) -> None:
    params = reader_of(seeded).parameters()
    assert params.epoch_length_s == 3600 and params.max_epoch_age_s == 86_400
    assert params.schedule == [{"origin": 0, "first_epoch": 0, "length": 3600}]
    assert params.classes[CLASS_A]["baseline_uj_per_unit"] == BASELINE
    assert params.classes[CLASS_A]["tiers_uj_per_unit"] == [400, 600, 800]
    assert params.classes[CLASS_A]["quality_floor"] == HOSTILE
    assert params.regions == {"KR": {"grams_per_kwh": 431, "block": 2}}  # the later event (block 2) wins
    assert [c["name"] for c in params.history] == ["EfficiencyClassSet", "RegionCarbonSet", "EpochScheduleChanged",
                                                   "MaxEpochAgeSet", "EfficiencyClassSet", "RegionCarbonSet"]
    assert params.history[-1]["timestamp"] == 2  # from the block it was indexed in


def test_a_schedule_change_keeps_epoch_numbers_growing() -> None:
    from web.db.queries import Parameters, Reader as R

    class Rows(R):
        def __init__(self, events):
            self.events = events

        def params(self):
            return [{"name": "EpochScheduleChanged", "args": json.dumps(a), "block": i, "timestamp": i,
                     "tx_hash": "0x"} for i, a in enumerate(self.events)]

    result: Parameters = Rows([{"origin": 0, "firstEpoch": 0, "length": 5},
                               {"origin": 100, "firstEpoch": 20, "length": 60},
                               {"origin": 100, "firstEpoch": 20, "length": 30}]).parameters()
    # The pending segment was changed again before it started: it is replaced, not appended.
    assert result.schedule == [{"origin": 0, "first_epoch": 0, "length": 5},
                               {"origin": 100, "first_epoch": 20, "length": 30}]
    assert result.epoch_length_s == 30


def test_an_upgrade_never_fails_on_an_existing_index(index_url: str) -> None:
    """An index at revision 0002 with rows and a cursor upgrades to head: v1 rows cannot become v2 ones, so the
    cache is emptied and the cursor forgotten (the indexer re-reads the chain), never an error."""
    db = Database(index_url)
    db.upgrade("0002")
    assert db.current_revision() == "0002"
    with db.engine.connect() as conn, transaction(conn):
        conn.execute(text("INSERT INTO claims (tx_hash, log_index, beneficiary, recipient, amount_wei, amount_eco, "
                          "block, timestamp) VALUES ('0xfeed', 3, '0xB', '0xC', :w, 1e12, 9, 9)"), {"w": str(10**30)})
        conn.execute(text("INSERT INTO cursor (id, block, hash) VALUES (1, 9, '0x9')"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('deployment', '1:0x1:1'), ('index_version', '7')"))
    db.upgrade()
    assert db.current_revision() == "0003"
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(claims)).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM cursor")).scalar() == 0
        assert get_meta(conn, "deployment") is None
        assert get_meta(conn, "index_version") == "8"  # pages cached before the upgrade are retired
        assert {"retirements", "classes", "batches", "verifications"} <= set(inspect(conn).get_table_names())
        assert "efficiency_uj_per_unit" in {c["name"] for c in inspect(conn).get_columns("proofs")}
    db.upgrade()  # at head: nothing to do
    reader = Reader(db.reader())
    assert reader.totals()["proofs"] == 0 and reader.retirements(1).total == 0
    reader.close()
    db.dispose()


def test_a_pre_alembic_index_is_adopted_and_an_older_one_rebuilt(tmp_path: Path) -> None:
    # The pre-Alembic open_store schema (schema_version 2): adopted as 0001, then upgraded to head.
    current = tmp_path / "v2.sqlite"
    Database(current).upgrade("0001")
    conn = sqlite3.connect(current)
    conn.execute("DROP TABLE alembic_version")
    conn.execute("INSERT INTO claims VALUES ('0x1', 0, '0xB', '0xB', '5', 5e-18, 3, 1)")
    conn.commit()
    conn.close()
    db = Database(current)
    db.upgrade()
    assert db.current_revision() == "0003"
    assert Reader(db.reader()).totals()["claims"] == 0
    # An older schema is a cache of chain data: emptied and rebuilt.
    old_path = tmp_path / "old.sqlite"
    old = sqlite3.connect(old_path)
    old.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                      "INSERT INTO meta VALUES ('schema_version', '1');"
                      "CREATE TABLE nodes (node TEXT PRIMARY KEY, energy_mj INTEGER, row_html TEXT);"
                      "INSERT INTO nodes VALUES ('0x1', 5, '<td>old</td>');")
    old.close()
    db = Database(old_path)
    db.upgrade()
    assert db.current_revision() == "0003"
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(nodes)).scalar() == 0
        assert "energy_bound_mj_total" in {c["name"] for c in inspect(conn).get_columns("nodes")}


def test_one_indexer_holds_the_lock_and_the_other_waits(index_url: str) -> None:
    db = Database(index_url)
    db.upgrade()
    first_conn, second_conn = db.engine.connect(), db.engine.connect()
    first, second = IndexerLock(first_conn, "first"), IndexerLock(second_conn, "second")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert second.holder().startswith("first")
    with transaction(first_conn):
        first.confirm()  # still ours
    first.release()
    assert second.try_acquire() and second.holder().startswith("second")
    assert not first.try_acquire()
    second.release()
    first_conn.close()
    second_conn.close()
    db.dispose()


def test_a_lost_lock_stops_the_writer(index_url: str) -> None:
    """SQLite: a lease without heartbeat expires and the stale holder's next batch is refused. PostgreSQL: the
    advisory lock dies with its session, so another indexer takes over at once."""
    db = Database(index_url)
    db.upgrade()
    stale_conn, fresh_conn = db.engine.connect(), db.engine.connect()
    stale, fresh = IndexerLock(stale_conn, "stale", ttl_s=0.2), IndexerLock(fresh_conn, "fresh", ttl_s=0.2)
    assert stale.try_acquire()
    if db.is_postgresql:
        stale_conn.invalidate()  # the session ends (a crash, a lost network): the server frees the lock
        # … once its backend process notices the closed socket and exits: a moment on a busy machine.
        deadline = time.monotonic() + 10
        while not fresh.try_acquire():
            assert time.monotonic() < deadline, "the server never freed the dead session's advisory lock"
            time.sleep(0.05)
    else:
        time.sleep(0.3)
        assert fresh.try_acquire()
    if not db.is_postgresql:
        from web.db.lock import LockLost

        with pytest.raises(LockLost), transaction(stale_conn):
            stale.confirm()
    fresh.release()
    stale_conn.close()
    fresh_conn.close()
    db.dispose()


def test_the_page_reader_answers_as_sqlalchemy_would(seeded: str) -> None:
    """The pages' reader runs each statement's compiled SQL on the driver's connection: the rows equal what
    SQLAlchemy's own execution returns, and a leaderboard page carries its total in the same round trip."""
    from web.db import queries

    db = Database(seeded)
    reader = Reader(db.reader)
    node = {"node": NODE_A}
    cases = [(queries._NODE, node), (queries._NODE_WITH_CLASS, node), (queries._NODE_RECENT, {**node, "size": 5}),
             (queries._NODE_PROOFS, {**node, "size": 5, "offset": 1}), (queries._TOTALS, {}), (queries._CURSOR, {}),
             (queries._CLASSES, {}), (queries._PARAMS, {}), (queries._RETIREMENT_HOLDERS, {}),
             (queries._LEADERBOARD["credits"], {"after": 0, "size": 10}),
             (queries._CLASS_LEADERBOARD["efficiency"], {"class_id": CLASS_A, "after": 1, "size": 10})]
    with db.engine.connect() as conn:
        for statement, params in cases:
            assert reader._rows(statement, params) == [dict(r) for r in conn.execute(statement, params).mappings()]
    page = reader.leaderboard("credits", 1, 1)
    assert (page.total, page.pages, [r["node"] for r in page.rows]) == (2, 2, [NODE_A])
    assert "total" not in page.rows[0]
    beyond = reader.leaderboard("efficiency", 3, 1, CLASS_A)  # no rows: the total still comes (2 nodes)
    assert (beyond.rows, beyond.total) == ([], 2)
    assert reader.leaderboard("credits", 5, 10, CLASS_B).total == 0
    found = reader.node_and_class(NODE_A)
    assert found is not None and found[0] == reader.node(NODE_A) and found[1] == reader.efficiency_class(CLASS_A)
    assert reader.node_and_class(BEN) is None
    if db.is_postgresql:  # each page statement is planned once per connection, not at every request
        assert reader.conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
    reader.close()
    db.dispose()


def test_a_dropped_reader_connection_is_replaced(index_url: str) -> None:
    """PostgreSQL restarted, or the session was killed: that request fails as a database error (the app answers
    503) and the next one gets a fresh connection."""
    from sqlalchemy.exc import DBAPIError

    db = Database(index_url)
    db.upgrade()
    reader = Reader(db.reader)
    assert reader.totals()["proofs"] == 0
    if db.is_postgresql:
        pid = reader.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
    else:
        reader.conn.connection.dbapi_connection.close()  # the driver's connection is gone under the reader
    with pytest.raises(DBAPIError):
        for _ in range(50):  # the server ends the session a moment after the signal
            reader.totals()
            time.sleep(0.1)
    assert reader.totals()["proofs"] == 0 and reader.cursor() is None
    reader.close()
    db.dispose()
