"""Store summaries and request/response rules (validation, escaping, headers, HTMX fragments) without a chain.

The rows here are written straight into the raw tables, as the indexer would, to put hostile values (a
governance-chosen hardware class with markup) where only a chain could otherwise put them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from web import store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from web.app import create_app

NODE_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NODE_B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
BEN = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
HOSTILE = "<script>alert(1)</script>"
BASELINE = 3_500_000


def credits(threshold: int) -> int:
    return (BASELINE - threshold) * 10**18 // store.MJ_PER_KWH


def add_proof(conn, node: str, epoch: int, threshold: int, block: int) -> None:
    c = credits(threshold)
    conn.execute("INSERT INTO proofs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 (node, epoch, BEN, 0, threshold, "123", -(-threshold * 431 // 3_600_000), str(c), c / 1e18, block,
                  1_700_000_000 + block, f"0x{block:064x}", 0, 210_000))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "web.sqlite"
    conn = store.open_store(path)
    with store.transaction(conn):
        conn.execute("INSERT INTO node_events VALUES ('0x01', 0, ?, 'admitted', ?, ?, 'KR', 1)",
                     (NODE_A, BEN, HOSTILE))
        conn.execute("INSERT INTO node_events VALUES ('0x02', 0, ?, 'admitted', ?, 'H100', 'FR', 1)", (NODE_B, BEN))
        add_proof(conn, NODE_A, 10, 1_000_000, 5)
        add_proof(conn, NODE_A, 11, 1_500_000, 6)
        add_proof(conn, NODE_B, 11, 2_250_000, 7)
        conn.execute("INSERT INTO blocks VALUES (5, '0xa', 1), (6, '0xb', 2), (7, '0xc', 3)")
        conn.execute("INSERT INTO cursor VALUES (1, 7, '0xc')")
        store.refresh(conn)
    conn.close()
    return path


@pytest.fixture
def client(db: Path) -> TestClient:
    with TestClient(create_app(db)) as c:
        yield c


def test_summaries_are_exact_and_ranked(db: Path) -> None:
    conn = store.connect(db, readonly=True)
    a = store.Reader(conn).node(NODE_A)
    assert a["proofs"] == 2 and a["energy_mj"] == 2_500_000
    assert int(a["credits_wei"]) == credits(1_000_000) + credits(1_500_000)  # exact, beyond 2^63 safe
    assert a["eco_score"] == pytest.approx(100 * 4_500_000 / 7_000_000, abs=0.01)
    totals = store.Reader(conn).totals()
    assert totals["proofs"] == 3 and totals["nodes"] == 2
    assert int(totals["credits_wei"]) == sum(credits(t) for t in (1_000_000, 1_500_000, 2_250_000))
    by_credits = store.Reader(conn).leaderboard("credits", 1, 10).rows
    assert [r["node"] for r in by_credits] == [NODE_A, NODE_B] and [r["position"] for r in by_credits] == [1, 2]
    by_energy = store.Reader(conn).leaderboard("energy", 1, 10).rows
    assert [r["node"] for r in by_energy] == [NODE_A, NODE_B]  # 2.5e6 mJ > 2.25e6 mJ
    assert [r["epoch"] for r in conn.execute("SELECT epoch FROM epoch_stats ORDER BY epoch")] == [10, 11]


def test_rollback_forgets_events_above_the_fork_and_rebuilds(db: Path) -> None:
    conn = store.open_store(db)
    with store.transaction(conn):
        store.rollback_to(conn, 5, "0xa")
    reader = store.Reader(conn)
    assert reader.totals()["proofs"] == 1
    assert reader.node(NODE_B)["proofs"] == 0  # admitted at block 1, its proof (block 7) is gone
    assert reader.node(NODE_A)["proofs"] == 1
    assert tuple(reader.cursor()) == (5, "0xa")


def test_pages_render_and_hostile_chain_values_are_escaped(client: TestClient) -> None:
    for path in ("/", "/leaderboard", f"/nodes/{NODE_A}", f"/proofs/{NODE_A}/10", "/claim"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert HOSTILE not in response.text, path
    board = client.get("/leaderboard").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board
    assert "&lt;script&gt;" in client.get(f"/nodes/{NODE_A}").text


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]  # no 'unsafe-inline', no CDN
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in client.get("/nodes/0xnope").headers  # errors too


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/nodes/0x123", 400, "not an Ethereum address"),
    ("/nodes/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404, "Not Found"),  # the %2F makes it another path
    ("/nodes/%3Cimg%20src=x%20onerror=alert(1)%3E", 400, "not an Ethereum address"),
    ("/nodes/0x70997970c51812dc3a010c7d01b50e0d17dc79C8", 400, "checksum"),
    ("/nodes/0x0000000000000000000000000000000000000001", 404, "no node"),
    ("/proofs/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/99", 404, "no accepted proof"),
    ("/proofs/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/-1", 422, "epoch"),
    ("/proofs/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/18446744073709551616", 422, "epoch"),
    ("/proofs/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/abc", 422, "epoch"),
    ("/leaderboard?page=1000000000000000000000", 422, "page"),
    ("/leaderboard?page=0", 422, "page"),
    ("/leaderboard?page=999999", 404, "beyond the last page"),
    ("/leaderboard?size=100000", 422, "size"),
    ("/leaderboard?sort=%3Cscript%3E", 422, "sort"),
    ("/api/nodes/0x123", 400, "not an Ethereum address"),
    ("/api/leaderboard?page=99999999999", 422, "page"),
])
def test_bad_input_gets_one_clear_4xx(client: TestClient, path: str, status: int, message: str) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text[:300]
    assert message in response.text
    assert "<script>alert" not in response.text and "<img src=x" not in response.text  # never reflected raw
    if path.startswith("/api/"):
        assert message in response.json()["detail"]


def test_htmx_requests_get_only_the_fragment(client: TestClient) -> None:
    full = client.get("/leaderboard?sort=proofs")
    fragment = client.get("/leaderboard?sort=proofs", headers={"HX-Request": "true"})
    assert "<html" in full.text and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<section id="leaderboard"')
    assert "Vary" in fragment.headers and "HX-Request" in fragment.headers["Vary"]
    restore = client.get("/leaderboard", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text  # history restore needs the whole page
    node = client.get(f"/nodes/{NODE_A}?page=1&size=1", headers={"HX-Request": "true"})
    assert node.text.lstrip().startswith('<section id="node-proofs"') and node.text.count("<tr>") == 2


def test_node_paging_matches_precomputed_first_page(client: TestClient) -> None:
    precomputed = client.get(f"/nodes/{NODE_A}").text
    live = client.get(f"/nodes/{NODE_A}?page=1&size=1").text
    assert "/proofs/" + NODE_A + "/11" in precomputed and "/proofs/" + NODE_A + "/10" in precomputed
    assert "/proofs/" + NODE_A + "/11" in live and "/proofs/" + NODE_A + "/10" not in live  # newest first


def test_api_and_openapi(client: TestClient) -> None:
    totals = client.get("/api/totals").json()
    assert totals["proofs"] == 3 and totals["energy_certified_mj"] == 4_750_000
    board = client.get("/api/leaderboard?sort=score").json()
    assert board["nodes"][0]["node"] == NODE_A and board["total"] == 2
    proof = client.get(f"/api/proofs/{NODE_A}/10").json()
    assert proof["public_signals"] == ["1000000", "10", str(int(NODE_A, 16)), "123"]
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/totals", "/api/leaderboard", "/api/nodes/{address}", "/api/proofs/{address}/{epoch}",
            "/api/proofs/{address}/{epoch}/verify", "/api/accounts/{address}", "/healthz"} <= set(paths)
    assert client.get("/healthz").json()["indexed_block"] == 7
    # Without a chain the live endpoints say so instead of guessing.
    assert client.get(f"/api/accounts/{BEN}").status_code == 503
    assert client.get(f"/api/proofs/{NODE_A}/10/verify").status_code == 503


def test_vendored_assets_are_served_locally(client: TestClient) -> None:
    assert client.get("/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/vendor/chartjs/chart.umd.min.js").status_code == 200
    page = client.get("/").text
    assert "https://" not in page.split("<footer>")[0]  # no CDN anywhere in the page
