"""The dApp in Debian's Chromium (Playwright), against a real uvicorn server indexing a real anvil chain."""

from __future__ import annotations

import json
import re

import pytest

from chainsetup import screenshot, wait_for
from oracle.chain.anvil import rpc_call

pytestmark = [pytest.mark.browser, pytest.mark.chain]


def test_overview_shows_chain_totals_and_chart(page, web_server, web_chain) -> None:
    page.goto(web_server.url + "/")
    assert page.locator("#total-proofs").inner_text() == "3"
    # 1.0e6 + 1.5e6 (H200 tiers 0, 1) + 2.25e6 (H100 tier 2) mJ = 4.75e6 mJ
    assert page.locator("#total-energy").inner_text() == "0.001319 kWh"
    page.wait_for_function("() => Chart.getChart('overview-chart') !== undefined")
    screenshot(page, "overview")
    assert page.js_errors == []  # CSP violations and script errors are console errors


def test_leaderboard_lists_the_submitted_nodes(page, web_server, web_chain) -> None:
    page.goto(web_server.url + "/leaderboard")
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 2
    nodes = {p["node"] for p in web_chain.proofs}
    links = {rows.nth(i).locator("a").get_attribute("title") for i in range(2)}
    assert links == nodes
    # Node A (two proofs, H200 tiers 0 and 1) earned more than node B (one H100 proof at tier 2).
    assert rows.first.locator("a").get_attribute("title") == web_chain.accounts[1]
    assert "H200 · KR" in rows.first.inner_text() and "ECO" in rows.first.inner_text()
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
    assert page.url.endswith("/leaderboard?sort=proofs&size=25")  # hx-push-url keeps the address shareable
    assert page.locator("#leaderboard").count() == 1  # swapped in place, not nested
    # The swapped-in table follows the new key: the proofs column is in descending order.
    proofs = [int(t) for t in page.locator("#leaderboard tbody tr td:nth-child(4)").all_inner_texts()]
    assert proofs == sorted(proofs, reverse=True) and len(proofs) == 2
    screenshot(page, "leaderboard-sorted")
    assert page.js_errors == []


def test_node_and_proof_pages_and_verify_again(page, web_server, web_chain) -> None:
    proof = web_chain.proofs[0]
    page.goto(f"{web_server.url}/nodes/{proof['node']}")
    assert proof["node"] in page.locator("h1").inner_text()
    assert web_chain.accounts[3] in page.locator("dl.facts").inner_text()  # its beneficiary
    assert page.locator("#node-proofs tbody tr").count() == 2
    page.wait_for_function("() => Chart.getChart('node-chart') !== undefined")
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


INJECTED_WALLET = """
(() => {
  const account = %s;
  window.__walletLog = [];
  window.ethereum = {
    isEcoAITestWallet: true,
    async request({ method, params }) {
      window.__walletLog.push(method);
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
      if (method === "wallet_watchAsset") { window.__watched = params; return true; }
      // Everything else goes to anvil, whose dev account is unlocked: it signs eth_sendTransaction.
      const reply = JSON.parse(await window.__anvilRpc(JSON.stringify({ method, params: params || [] })));
      if (reply.error) throw new Error(reply.error);
      return reply.result;
    },
  };
})();
"""


def test_claim_flow_with_an_injected_eip1193_wallet(page, web_server, web_chain) -> None:
    beneficiary = web_chain.accounts[3]
    accrued = int(web_chain.green_proof.functions.accrued(beneficiary).call())
    assert accrued > 0
    balance_before = int(web_chain.eco_credit.functions.balanceOf(beneficiary).call())

    def anvil_rpc(payload: str) -> str:
        request = json.loads(payload)
        try:
            return json.dumps({"result": rpc_call(web_chain.anvil.url, request["method"], request["params"])})
        except RuntimeError as exc:
            return json.dumps({"error": str(exc)})

    page.expose_function("__anvilRpc", anvil_rpc)
    page.add_init_script(INJECTED_WALLET % json.dumps(beneficiary))
    page.goto(web_server.url + "/claim")
    page.locator("#connect").click()
    page.wait_for_function("() => document.getElementById('account').textContent.startsWith('0x')")
    assert page.locator("#account").inner_text().lower() == beneficiary.lower()
    page.wait_for_function("() => !document.getElementById('claim-button').disabled")
    assert re.fullmatch(r"0\.\d+ ECO", page.locator("#claimable").inner_text())
    page.locator("#watch-asset").click()
    page.wait_for_function("() => window.__watched !== undefined")
    watched = page.evaluate("() => window.__watched")
    assert watched["type"] == "ERC20" and watched["options"]["symbol"] == "ECO"
    assert watched["options"]["address"] == web_chain.deployment.address("EcoCredit")
    assert watched["options"]["decimals"] == 18

    page.locator("#claim-button").click()
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Claimed')",
                           timeout=30_000)
    balance_after = int(web_chain.eco_credit.functions.balanceOf(beneficiary).call())
    assert balance_after == balance_before + accrued  # on chain
    assert int(page.locator("#balance").get_attribute("data-wei")) == balance_after  # on the page
    assert page.locator("#claimable").inner_text() == "0 ECO"
    assert "eth_sendTransaction" in page.evaluate("() => window.__walletLog")
    screenshot(page, "claim")
    assert page.js_errors == []
    # The indexer picks the claim up: the overview's claimed total now shows it.
    wait_for(lambda: page.goto(web_server.url + "/") and
             page.locator("#total-claimed").inner_text().startswith("0.00124999"), "the claim to be indexed")
