"""The dApp in Debian's Chromium (Playwright), against a real uvicorn server indexing a real anvil chain."""

from __future__ import annotations

import pytest

from chainsetup import screenshot
from web.views import fmt_kwh

pytestmark = [pytest.mark.browser, pytest.mark.chain]


def test_overview_shows_chain_totals_and_chart(page, web_server, web_chain) -> None:
    page.goto(web_server.url + "/")
    assert page.locator("#total-proofs").inner_text() == "3"
    # Each proof bounds its epoch's energy by ceil(tau * W / 1000) mJ (v2 design, oracle/conventions.py).
    bound_mj = sum(-(-p["efficiency_uj_per_unit"] * p["work"] // 1000) for p in web_chain.proofs)
    assert page.locator("#total-energy").inner_text() == fmt_kwh(bound_mj)
    page.wait_for_function("() => Chart.getChart('overview-chart') !== undefined")
    screenshot(page, "overview")
    assert page.js_errors == []  # CSP violations and script errors are console errors


def _board_nodes(page) -> list[str]:
    return [a.get_attribute("title") for a in page.locator("#leaderboard tbody tr td:nth-child(2) a").all()]


def test_leaderboard_lists_the_submitted_nodes(page, web_server, web_chain) -> None:
    page.goto(web_server.url + "/leaderboard?sort=credits")
    nodes = {p["node"] for p in web_chain.proofs}
    assert set(_board_nodes(page)) == nodes
    # Ranked by credits, most first: the order the chain's accrued credits give.
    credits = [int(c.get_attribute("title").split()[0])
               for c in page.locator("#leaderboard tbody tr td.num[title$=' wei']").all()]
    assert len(credits) == 2 and credits == sorted(credits, reverse=True)
    text = page.locator("#leaderboard tbody").inner_text()
    assert "seoul-encoder-1" in text and "paris-mlp-1" in text and "ECO" in text  # nodes by their label
    screenshot(page, "leaderboard")
    assert page.js_errors == []


def test_htmx_sorting_swaps_only_the_table(page, web_server, web_chain) -> None:
    page.goto(web_server.url + "/leaderboard?sort=credits")
    page.wait_for_function("() => window.htmx !== undefined")
    # Markers outside the table: a JS global and a DOM attribute survive only if the page is not reloaded.
    page.evaluate("() => { window.__marker = 'kept'; document.getElementById('board-intro').dataset.marker = 'kept'; }")
    fragments: list[str] = []
    page.on("request", lambda r: fragments.append(r.url) if r.headers.get("hx-request") else None)
    page.locator('a.sort[data-sort="proofs"]').click()
    page.wait_for_selector('a.sort.active[data-sort="proofs"]')
    assert page.evaluate("() => window.__marker") == "kept"
    assert page.locator("#board-intro").get_attribute("data-marker") == "kept"
    assert any("sort=proofs" in u for u in fragments), fragments
    assert "/leaderboard?sort=proofs" in page.url  # hx-push-url keeps the address shareable
    assert page.locator("#leaderboard").count() == 1  # swapped in place, not nested
    # The swapped-in table follows the new key: node A (two proofs) before node B (one).
    node_a = web_chain.accounts[1]
    assert _board_nodes(page)[0] == node_a and len(_board_nodes(page)) == 2
    screenshot(page, "leaderboard-sorted")
    assert page.js_errors == []


def test_node_and_proof_pages_and_verify_again(page, web_server, web_chain) -> None:
    proof = web_chain.proofs[0]
    page.goto(f"{web_server.url}/nodes/{proof['node']}")
    assert page.locator("h1").inner_text() == "seoul-encoder-1"  # the node's governed label
    page.locator("#node-address summary").click()  # the address is one click away
    assert proof["node"] in page.locator("#node-address").inner_text()
    assert web_chain.accounts[3] in page.locator("dl.facts").inner_text()  # its beneficiary
    assert page.locator("#node-proofs tbody tr").count() == 2
    # The chart is an SVG the server draws: one visible bar per accepted epoch, oldest first, titled with the
    # epoch and its proven tier.
    bars = page.locator("svg#node-chart rect.bar")
    epochs = sorted(p["epoch"] for p in web_chain.proofs if p["node"] == proof["node"])
    assert bars.count() == len(epochs) == 2
    titles = [bars.nth(i).locator("title").text_content() for i in range(bars.count())]
    assert [t.split(",")[0] for t in titles] == [f"epoch {e}" for e in epochs] and all("at most" in t for t in titles)
    assert all(bars.nth(i).bounding_box()["height"] > 0 for i in range(bars.count()))
    assert page.locator("#node-footprint").inner_text() == "not reported"  # this server was given no node.db
    screenshot(page, "node")
    page.locator(f"a[href='/proofs/{proof['node']}/{proof['epoch']}']").click()
    page.wait_for_url(f"**/proofs/{proof['node']}/{proof['epoch']}")
    text = page.locator("main").inner_text()
    assert proof["tx_hash"] in text and str(proof["commitment"]) in text
    assert "cannot show" in text and "physically true" in text
    page.locator("#verify-button").click()
    page.wait_for_selector("#verify-python", timeout=60_000)
    assert "valid" in page.locator("#verify-onchain").inner_text()
    assert "INVALID" not in page.locator("#verify-onchain").inner_text()
    assert "pairing check passed" in page.locator("#verify-python").inner_text()
    screenshot(page, "proof-verified")
    assert page.js_errors == []


def test_a_busy_verifier_shows_its_429_in_the_page(page, web_server, web_chain) -> None:
    """Every "verify again" slot taken: the 429 (its message and Retry-After) replaces the result area instead of
    being dropped (htmx swaps only 2xx unless static/htmx-errors.js says so); once a slot frees up, it verifies."""
    gate = web_server.app.state.web.verify_gate
    proof = web_chain.proofs[-1]
    page.goto(f"{web_server.url}/proofs/{proof['node']}/{proof['epoch']}")
    page.wait_for_function("() => window.htmx !== undefined")
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/verify" in r.url else None)
    runs, gate.busy = gate.runs, gate.slots  # every slot taken (what concurrent verifications would do)
    try:
        page.locator("#verify-button").click()
        page.wait_for_selector("#verify-result .error-message")
    finally:
        gate.busy = 0
    assert statuses == [429] and gate.runs == runs
    message = page.locator("#verify-result").inner_text()
    assert "too many verifications" in message and f"in {gate.retry_after_s} s" in message
    assert page.locator("#verify-result").get_attribute("data-retry-after") == str(gate.retry_after_s)
    screenshot(page, "proof-verify-busy")
    page.locator("#verify-button").click()  # a slot is free again: the same button now verifies
    page.wait_for_selector("#verify-python", timeout=60_000)
    assert "pairing check passed" in page.locator("#verify-python").inner_text()
    assert statuses == [429, 200]
    # Chromium reports any 4xx/5xx response on the console; nothing else may be there.
    assert [e for e in page.js_errors if "status of 429" not in e] == []


# The claim flow with an injected EIP-1193 wallet is the DAO member's journey in test_journeys.py (wrong chain →
# switch/add → claim → add ECO → retire → certificate): one account's credits can be claimed only once.
