"""The web app's request/response rules (validation, escaping, headers, HTMX fragments, typed API) without a
chain, over an index seeded as the indexer would write it (tests/web/seed.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from markupsafe import escape

from seed import BATCH_TX, BEN, CLASS_A, CLASS_B, HOSTILE, NODE_A, NODE_B
from web.views import CREDIT_MEANS, PROOF_LIMITS

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
    ("/leaderboard?class=%3Cscript%3Ealert(1)%3C/script%3E", 404, "no efficiency class"),
    ("/leaderboard?class=" + "x" * 65, 422, "class"),
    ("/api/leaderboard?class=nope", 404, "no efficiency class"),
    ("/proofs/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/99/public.json", 404, "no accepted proof"),
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
    assert totals["proofs"] == 3 and totals["energy_bound_mj_total"] == 3800
    assert totals["retirements"] == 1 and totals["credits_retired_wei"] == str(10**18 // 4)
    board = client.get("/api/leaderboard").json()  # default: efficiency within the class with the most nodes
    assert (board["sort"], board["class_id"], board["total"]) == ("efficiency", CLASS_A, 2)
    assert [(n["node"], n["position"]) for n in board["nodes"]] == [(NODE_A, 1), (NODE_B, 2)]
    assert board["nodes"][0]["efficiency_uj_per_unit"] == 550 and board["nodes"][0]["eco_score"] == 45
    assert client.get(f"/api/leaderboard?sort=efficiency&class={CLASS_B}").json()["nodes"] == []
    assert client.get("/api/leaderboard?sort=credits").json()["class_id"] is None
    proof = client.get(f"/api/proofs/{NODE_A}/10").json()
    assert proof["public_signals"] == ["400", "1000", "10", str(int(NODE_A, 16)), "0", "123"]
    assert (proof["energy_method"], proof["work_method"], proof["batch_size"]) == ("measured", "measured", 1)
    batched = client.get(f"/api/proofs/{NODE_B}/11").json()
    assert batched["batch_size"] == 2 and batched["tx_hash"] == BATCH_TX
    assert batched["settled_with"] == [{"node": NODE_A, "epoch": 11}, {"node": NODE_B, "epoch": 11}]
    assert (batched["energy_method"], batched["work_method"]) == ("replayed", "estimated")
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/totals", "/api/leaderboard", "/api/classes", "/api/nodes/{address}", "/api/retirements",
            "/api/proofs/{address}/{epoch}", "/api/proofs/{address}/{epoch}/verify", "/api/accounts/{address}",
            "/healthz"} <= set(paths)
    assert client.get("/healthz").json()["indexed_block"] == 7
    # Without a chain the live endpoints say so instead of guessing.
    assert client.get(f"/api/accounts/{BEN}").status_code == 503
    assert client.get(f"/api/proofs/{NODE_A}/10/verify").status_code == 503


def test_every_page_says_what_a_credit_means_and_what_a_proof_cannot_show(client: TestClient) -> None:
    for path in ("/", "/leaderboard", f"/nodes/{NODE_A}", f"/proofs/{NODE_A}/10", "/parameters"):
        page = client.get(path).text
        assert str(escape(CREDIT_MEANS)) in page and str(escape(PROOF_LIMITS)) in page, path
        assert "Verified AI energy" not in page, path  # the readings are self-measured: no such claim


def test_plurals(client: TestClient) -> None:
    overview = client.get("/").text
    assert "by 2 nodes in 2 transactions" in overview and "1 certificate<" in overview and "0 claims" in overview
    assert "1 nodes" not in overview
    board = client.get("/leaderboard").text
    assert "· 2 nodes</span>" in board and "(0 nodes)" in board
    assert client.get(f"/nodes/{NODE_B}").text.count("1 proof<") == 1


def test_leaderboard_says_whose_node_is_whose(client: TestClient) -> None:
    board = client.get("/leaderboard").text
    table = board.split('<table class="data">')[1]
    assert "paris-1" in table and "&lt;script&gt;alert(1)&lt;/script&gt;" in table  # labels (escaped)
    assert BEN[:6] in table and f'title="{BEN}"' in table  # the beneficiary, without opening the node
    assert table.index("&lt;script&gt;") < table.index("paris-1")  # 550 µJ/token ranks above 800
    assert "550 µJ/token" in table and "45.0" in table
    assert table.count("<th scope") == 7  # fits a page: node (with class · region), beneficiary, 4 figures
    selector = board.split('id="class-selector"')[1].split("</div>")[0]
    assert CLASS_A in selector and CLASS_B in selector and 'aria-current="true"' in selector
    credits = client.get("/leaderboard?sort=credits").text
    assert "All classes" in credits


def test_node_page_names_the_node_and_never_invents_a_footprint(client: TestClient) -> None:
    page = client.get(f"/nodes/{NODE_B}").text
    assert "<h1>paris-1</h1>" in page
    assert NODE_B in page.split('id="node-address"')[1].split("</details>")[0]  # the address, one click away
    assert BEN in page.split('id="node-beneficiary"')[1].split("</dd>")[0]
    assert 'id="node-footprint">not reported<' in page
    assert "800 µJ/token" in page and "Eco Score" in page
    chart = page.split('<svg class="efficiency-chart" id="node-chart"')[1].split("</svg>")[0]
    assert '<text class="time"' in chart and ">01-01 11:00</text>" in chart  # labelled by time, not epoch number
    assert "epoch 11, 1970-01-01 11:00:00 UTC: at most 800 µJ/token" in chart and chart.count('class="bar"') == 1
    assert "class baseline 1,000 µJ/token" in chart


def test_proof_page_shows_the_settlement_methods_and_downloads(client: TestClient) -> None:
    page = client.get(f"/proofs/{NODE_B}/11").text
    settlement = page.split('id="settlement"')[1].split("</section>")[0]
    assert BATCH_TX in settlement and "a batch of 2 epochs" in settlement
    assert f"/proofs/{NODE_A}/11" in settlement  # the other epoch settled with it
    assert "energy: <strong>replayed</strong> · work: <strong>estimated</strong>" in page
    assert 'href="/proofs/' + NODE_B + '/11/public.json"' in page and 'href="/verification_key.json"' in page
    single = client.get(f"/proofs/{NODE_A}/10").text
    assert "this epoch alone (a single submit)" in single
    public = client.get(f"/proofs/{NODE_A}/10/public.json")
    assert public.json() == ["400", "1000", "10", str(int(NODE_A, 16)), "0", "123"]
    assert 'filename="public.json"' in public.headers["content-disposition"]
    vk = client.get("/verification_key.json").json()
    assert vk["protocol"] == "groth16" and vk["nPublic"] == 6
    # The seeded rows carry no calldata proof: the page says so instead of offering a broken link.
    assert client.get(f"/proofs/{NODE_A}/10/proof.json").status_code == 404
    assert "could not be read from the transaction" in single


def test_vendored_assets_are_served_locally(client: TestClient) -> None:
    assert client.get("/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/vendor/chartjs/chart.umd.min.js").status_code == 200
    page = client.get("/").text
    assert "https://" not in page.split("<footer>")[0]  # no CDN anywhere in the page


def test_parameters_page_shows_current_values_and_history(client: TestClient) -> None:
    nav = client.get("/").text.split("</nav>")[0]
    assert 'href="/parameters"' in nav
    page = client.get("/parameters").text
    current = page.split('id="current-parameters"')[1].split('<section class="card">')[0]
    assert "3,600 s (1 h)" in current and "86,400 s (24 h)" in current
    assert "431 g CO₂/kWh" in current and "500 g CO₂/kWh" not in current  # the later RegionCarbonSet wins
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in current  # a hostile quality floor, escaped
    classes = current.split('id="efficiency-classes"')[1].split("</table>")[0]
    assert "1,000 µJ/token" in classes and "0: 400 µJ/token · 1: 600 µJ/token · 2: 800 µJ/token" in classes
    assert 'id="epoch-schedule"' in current
    history = page.split('id="parameter-history"')[1]
    assert history.count("<tr>") == 1 + 6  # header + every governance event
    assert "gramsPerKwh = 500" in history and "tiersUjPerUnit = 400, 600, 800" in history
    api = client.get("/api/parameters").json()
    assert api["epoch_length_s"] == 3600 and api["regions"] == [{"region": "KR", "grams_per_kwh": 431, "block": 2}]
    assert api["schedule"] == [{"origin": 0, "first_epoch": 0, "length": 3600}]
    assert [c["class_id"] for c in api["classes"]] == [CLASS_A, CLASS_B] and len(api["history"]) == 6


def test_api_answers_follow_their_typed_schemas(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    for path, methods in schema["paths"].items():
        answer = methods["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer != {} and "$ref" in str(answer), path  # a named model, not an untyped dict
    for name, model in schema["components"]["schemas"].items():
        assert model.get("additionalProperties") is not True, name
    node = client.get(f"/api/nodes/{NODE_A}").json()
    assert set(node) == set(schema["components"]["schemas"]["NodeDetail"]["properties"])
    assert node["energy_bound_mj_total"] == 2200 and node["eco_score"] == 45.0 and node["footprint_mj"] is None
    assert node["label"] == HOSTILE  # JSON carries the chain's text as is
    for gone in ("saved_share", "threshold_mj", "energy_mj\""):  # one name per value
        assert gone not in str(schema), gone


def test_notice_is_shown_on_every_page_only_when_given(db: Path) -> None:
    with TestClient(create_app(db, notice="Test network: <b>not real</b>")) as noticed, \
            TestClient(create_app(db)) as plain:
        for path in ("/", "/leaderboard", "/parameters", "/claim"):
            assert "Test network: &lt;b&gt;not real&lt;/b&gt;" in noticed.get(path).text, path
            assert 'class="banner"' not in plain.get(path).text, path


def test_the_node_page_shows_the_footprint_a_node_db_reports(db: Path, tmp_path: Path) -> None:
    """`--node-db`: a node's own footprint, read read-only from the node.db its node writes (oracle.node.state),
    shown next to the energy it certified and labelled as off chain; other nodes keep "not reported"."""
    from oracle.node import state as st
    from oracle.node.state import NodeState
    from oracle.measure.epoch import EpochEnergy

    node_db = tmp_path / "node.db"
    state = NodeState(node_db)
    for epoch, footprint in ((10, 1500), (11, 2250)):
        energy = EpochEnergy(epoch, epoch * 64.0, (epoch + 1) * 64.0, (5,) * 64, 320, {"replay": 320},
                             {"replayed": 320}, ("gpu0",), (), (3,) * 64, 192, "item", "replayed", ("replay:h200",))
        assert state.open_epoch(NODE_A.lower(), epoch, 64)  # the node's own spelling: matched case-insensitively
        state.record_closed(NODE_A.lower(), epoch, energy, st.PROVING, [], [], 0, 100, 1, "tier 0", footprint,
                            "estimated: 40 W × proving time")
    state.close()
    before = node_db.read_bytes()
    with TestClient(create_app(db, node_dbs=[node_db, tmp_path / "missing.db"])) as client:
        page = client.get(f"/nodes/{NODE_A}").text
        assert 'id="node-footprint" data-mj="3750">3.8 J<' in page
        assert "estimated: 40 W × proving time; over 2 epochs. Reported off chain by the node — not part of the " \
               "proof" in page
        assert 'id="node-energy-bound"' in page  # next to the energy it certified
        other = client.get(f"/nodes/{NODE_B}").text
        assert 'id="node-footprint">not reported<' in other
    assert node_db.read_bytes() == before  # read-only: the web never writes a node's state
    with TestClient(create_app(db)) as client:  # no --node-db: nothing reported
        assert 'id="node-footprint">not reported<' in client.get(f"/nodes/{NODE_A}").text


def test_the_node_chart_escapes_what_it_writes_itself() -> None:
    """The chart's bars are written by web.views (not the template): a class's unit is chain data, escaped there."""
    from web.views import efficiency_chart

    rows = [{"epoch": 7, "efficiency_uj_per_unit": 400, "baseline_uj_per_unit": 1000, "epoch_start": 3600,
             "timestamp": 9}, {"epoch": 8, "efficiency_uj_per_unit": 600, "baseline_uj_per_unit": 1000,
                               "epoch_start": None, "timestamp": 7200}]
    chart = efficiency_chart(rows, HOSTILE)
    bars = str(chart["bars"])
    assert HOSTILE not in bars and bars.count("&lt;script&gt;") == 2 and bars.count('<rect class="bar"') == 2
    assert "epoch 7, 1970-01-01 01:00:00 UTC: at most 400 µJ/&lt;script&gt;" in bars
    assert "epoch 8, 1970-01-01 02:00:00 UTC" in bars  # no epoch start: the block's time
    assert [text for _, text in chart["labels"]] == ["01-01 01:00", "01-01 02:00"]
