"""The web index (web/db) on SQLite and PostgreSQL: exact summaries and ranks, reorg roll-back, migrations,
governance parameters, and the one-indexer lock."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, insert, select

from seed import BASELINE, HOSTILE, NODE_A, NODE_B, credits
from web.db.engine import Database
from web.db.lock import IndexerLock
from web.db.queries import Reader
from web.db.schema import claims, epoch_stats, get_meta, nodes, transaction
from web.db.summaries import rollback_to


def reader_of(location: str) -> Reader:
    return Reader(Database(location).reader())


def test_summaries_are_exact_and_ranked(seeded: str) -> None:
    reader = reader_of(seeded)
    a = reader.node(NODE_A)
    assert a["proofs"] == 2 and a["threshold_mj_total"] == 2_500_000
    assert int(a["credits_wei"]) == credits(1_000_000) + credits(1_500_000)  # exact, beyond 2^63 safe
    assert a["saved_share_pct"] == pytest.approx(100 * 4_500_000 / 7_000_000, abs=0.01)
    totals = reader.totals()
    assert totals["proofs"] == 3 and totals["nodes"] == 2 and totals["threshold_mj_total"] == 4_750_000
    assert int(totals["credits_wei"]) == sum(credits(t) for t in (1_000_000, 1_500_000, 2_250_000))
    by_credits = reader.leaderboard("credits", 1, 10).rows
    assert [r["node"] for r in by_credits] == [NODE_A, NODE_B] and [r["position"] for r in by_credits] == [1, 2]
    by_bound = reader.leaderboard("threshold_total", 1, 10).rows
    assert [r["node"] for r in by_bound] == [NODE_A, NODE_B]  # 2.5e6 mJ > 2.25e6 mJ
    by_saved = reader.leaderboard("saved_share", 1, 10).rows
    assert [r["node"] for r in by_saved] == [NODE_A, NODE_B]  # 64 % > 100·1.25/3.5 = 36 %
    assert [r[0] for r in reader.conn.execute(select(epoch_stats.c.epoch).order_by(epoch_stats.c.epoch))] == [10, 11]
    reader.close()


def test_the_index_stores_no_html(seeded: str) -> None:
    db = Database(seeded)
    with db.engine.connect() as conn:
        columns = {c["name"] for table in ("nodes", "totals", "epoch_stats")
                   for c in inspect(conn).get_columns(table)}
        assert not any("html" in c for c in columns), columns
        assert "node_pages" not in inspect(conn).get_table_names()
        hostile = conn.execute(select(nodes.c.hardware_class).where(nodes.c.node == NODE_A)).scalar()
    assert hostile == HOSTILE  # stored as the chain said it; escaping is the templates' job
    db.dispose()


def test_rollback_forgets_events_above_the_fork_and_rebuilds(seeded: str) -> None:
    db = Database(seeded)
    with db.engine.connect() as conn:
        with transaction(conn):
            rollback_to(conn, 5, "0xa")
    reader = reader_of(seeded)
    assert reader.totals()["proofs"] == 1
    assert reader.node(NODE_B)["proofs"] == 0  # admitted at block 1, its proof (block 7) is gone
    assert reader.node(NODE_A)["proofs"] == 1
    cursor = reader.cursor()
    assert (cursor["block"], cursor["hash"]) == (5, "0xa")
    reader.close()
    db.dispose()


def test_parameters_are_the_last_event_of_each_and_keep_history(seeded: str) -> None:
    params = reader_of(seeded).parameters()
    assert params.epoch_length_s == 3600 and params.max_epoch_age_s == 86_400
    assert params.hardware_classes[HOSTILE]["baseline_mj"] == BASELINE
    assert params.hardware_classes[HOSTILE]["tiers_mj"] == [1_000_000, 1_500_000]
    assert params.regions == {"KR": {"grams_per_kwh": 431, "block": 2}}  # the later event (block 2) wins
    assert [c["name"] for c in params.history] == ["HardwareClassSet", "RegionCarbonSet", "EpochLengthSet",
                                                   "MaxEpochAgeSet", "RegionCarbonSet"]
    assert params.history[-1]["timestamp"] == 2  # from the block it was indexed in


def test_an_upgrade_keeps_the_index(index_url: str) -> None:
    """Created at revision 0001, a row added, upgraded to head: the row is still there."""
    db = Database(index_url)
    db.upgrade("0001")
    assert db.current_revision() == "0001"
    with db.engine.connect() as conn, transaction(conn):
        conn.execute(insert(claims).values(tx_hash="0xfeed", log_index=3, beneficiary="0xB", recipient="0xC",
                                           amount_wei=str(10**30), amount_eco=1e12, block=9, timestamp=9))
    db.upgrade()
    assert db.current_revision() == "0002"
    with db.engine.connect() as conn:
        row = conn.execute(select(claims.c.amount_wei).where(claims.c.tx_hash == "0xfeed")).scalar()
        assert row == str(10**30)
        assert "indexer_lock" in inspect(conn).get_table_names()
    db.upgrade()  # at head: nothing to do, nothing lost
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(claims)).scalar() == 1
    db.dispose()


def test_a_pre_alembic_index_is_adopted_and_an_older_one_rebuilt(tmp_path: Path) -> None:
    # Today's schema as the pre-Alembic open_store made it (schema_version 2): adopted, rows kept.
    current = tmp_path / "v2.sqlite"
    Database(current).upgrade("0001")
    conn = sqlite3.connect(current)
    conn.execute("DROP TABLE alembic_version")
    conn.execute("INSERT INTO claims VALUES ('0x1', 0, '0xB', '0xB', '5', 5e-18, 3, 1)")
    conn.commit()
    conn.close()
    db = Database(current)
    db.upgrade()
    assert db.current_revision() == "0002"
    assert Reader(db.reader()).claims_of("0xB")[0]["amount_wei"] == "5"
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
    with db.engine.connect() as conn:
        assert get_meta(conn, "schema_version") == "2"
        assert conn.execute(select(func.count()).select_from(nodes)).scalar() == 0
        assert "threshold_mj_total" in {c["name"] for c in inspect(conn).get_columns("nodes")}


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
