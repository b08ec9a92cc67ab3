"""The web index (web/db): exact summaries and ranks, reorg roll-back, schema rebuild, governance parameters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from oracle.sqlite import transaction
from seed import BASELINE, HOSTILE, NODE_A, NODE_B, credits
from web.db.queries import Reader
from web.db.schema import SCHEMA_VERSION, get_meta, open_reader, open_store
from web.db.summaries import rollback_to


def test_summaries_are_exact_and_ranked(db: Path) -> None:
    reader = Reader(open_reader(db))
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
    assert [r["epoch"] for r in reader.conn.execute("SELECT epoch FROM epoch_stats ORDER BY epoch")] == [10, 11]


def test_the_index_stores_no_html(db: Path) -> None:
    conn = open_reader(db)
    columns = {row[1] for table in ("nodes", "totals", "epoch_stats")
               for row in conn.execute(f"PRAGMA table_info({table})")}
    assert not any("html" in c for c in columns), columns
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'node_pages'").fetchone() is None
    hostile_class = conn.execute("SELECT hardware_class FROM nodes WHERE node = ?", (NODE_A,)).fetchone()[0]
    assert hostile_class == HOSTILE  # stored as the chain said it; escaping is the templates' job


def test_rollback_forgets_events_above_the_fork_and_rebuilds(db: Path) -> None:
    conn = open_store(db)
    with transaction(conn):
        rollback_to(conn, 5, "0xa")
    reader = Reader(conn)
    assert reader.totals()["proofs"] == 1
    assert reader.node(NODE_B)["proofs"] == 0  # admitted at block 1, its proof (block 7) is gone
    assert reader.node(NODE_A)["proofs"] == 1
    assert tuple(reader.cursor()) == (5, "0xa")


def test_an_index_of_an_older_schema_is_rebuilt_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                      "INSERT INTO meta VALUES ('schema_version', '1');"
                      "CREATE TABLE nodes (node TEXT PRIMARY KEY, energy_mj INTEGER, row_html TEXT);"
                      "INSERT INTO nodes VALUES ('0x1', 5, '<td>old</td>');")
    old.close()
    conn = open_store(path)
    assert get_meta(conn, "schema_version") == str(SCHEMA_VERSION)
    assert conn.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == 0
    assert "threshold_mj_total" in {row[1] for row in conn.execute("PRAGMA table_info(nodes)")}


def test_parameters_are_the_last_event_of_each_and_keep_history(db: Path) -> None:
    params = Reader(open_reader(db)).parameters()
    assert params.epoch_length_s == 3600 and params.max_epoch_age_s == 86_400
    assert params.hardware_classes[HOSTILE]["baseline_mj"] == BASELINE
    assert params.hardware_classes[HOSTILE]["tiers_mj"] == [1_000_000, 1_500_000]
    assert params.regions == {"KR": {"grams_per_kwh": 431, "block": 2}}  # the later event (block 2) wins
    assert [c["name"] for c in params.history] == ["HardwareClassSet", "RegionCarbonSet", "EpochLengthSet",
                                                   "MaxEpochAgeSet", "RegionCarbonSet"]
    assert params.history[-1]["timestamp"] == 2  # from the block it was indexed in
