"""The web app's request/response rules (validation, escaping, headers, HTMX fragments, typed API) without a
chain, over an index seeded as the indexer would write it (tests/web/seed.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from seed import BEN, HOSTILE, NODE_A

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from web.app import create_app


@pytest.fixture
def client(db: Path) -> TestClient:
    with TestClient(create_app(db)) as c:
        yield c


def test_pages_render_and_hostile_chain_values_are_escaped(client: TestClient) -> None:
    for path in ("/", "/leaderboard", f"/nodes/{NODE_A}", f"/proofs/{NODE_A}/10", "/parameters", "/claim"):
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
    assert totals["proofs"] == 3 and totals["threshold_mj_total"] == 4_750_000
    board = client.get("/api/leaderboard?sort=saved_share").json()
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


def test_parameters_page_shows_current_values_and_history(client: TestClient) -> None:
    nav = client.get("/").text.split("</nav>")[0]
    assert 'href="/parameters"' in nav
    page = client.get("/parameters").text
    current = page.split('id="current-parameters"')[1].split("</section>")[0]
    assert "3,600 s (1 h)" in current and "86,400 s (24 h)" in current
    assert "431 g CO₂/kWh" in current and "500 g CO₂/kWh" not in current  # the later RegionCarbonSet wins
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in current  # a hostile class name, escaped
    history = page.split('id="parameter-history"')[1]
    assert history.count("<tr>") == 1 + 5  # header + every governance event
    assert "gramsPerKwh = 500" in history and "tiersMj = 1000000, 1500000" in history
    api = client.get("/api/parameters").json()
    assert api["epoch_length_s"] == 3600 and api["regions"] == [{"region": "KR", "grams_per_kwh": 431, "block": 2}]
    assert len(api["history"]) == 5


def test_api_answers_follow_their_typed_schemas(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    for path, methods in schema["paths"].items():
        answer = methods["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer != {} and "$ref" in str(answer), path  # a named model, not an untyped dict
    for name, model in schema["components"]["schemas"].items():
        assert model.get("additionalProperties") is not True, name
    node = client.get(f"/api/nodes/{NODE_A}").json()
    assert set(node) == set(schema["components"]["schemas"]["NodeDetail"]["properties"])
    assert node["threshold_mj_total"] == 2_500_000 and 0 < node["saved_share_pct"] < 100
    assert "eco_score" not in node and "energy_mj" not in str(schema)  # one name per value


def test_notice_is_shown_on_every_page_only_when_given(db: Path) -> None:
    with TestClient(create_app(db, notice="Test network: <b>not real</b>")) as noticed, \
            TestClient(create_app(db)) as plain:
        for path in ("/", "/leaderboard", "/parameters", "/claim"):
            assert "Test network: &lt;b&gt;not real&lt;/b&gt;" in noticed.get(path).text, path
            assert 'class="banner"' not in plain.get(path).text, path
