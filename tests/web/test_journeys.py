"""Issue 16's acceptance journeys in Debian's Chromium (Playwright), against a real uvicorn server indexing a
real anvil chain: the verifier checks a proof offline with snarkjs, the DAO member goes from a wallet on the
wrong chain to a retirement certificate, every page fits a 390 px phone, and no page logs a console or CSP error.
Screenshots: test-results/web/journey-*.png and mobile-*.png.
"""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chainsetup import screenshot, wait_for
from oracle.chain.anvil import rpc_call
from oracle.paths import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.chain]

WEI = 10**18
WRONG_CHAIN = "0x1"

# An EIP-1193 wallet as a browser extension injects it, on `chainId` until asked to switch. It knows only the
# chains in `known` (EIP-3326 error 4902 for others, as MetaMask answers), adds one on wallet_addEthereumChain
# (EIP-3085) without switching to it, and forwards everything else to anvil, whose dev account is unlocked (it
# signs eth_sendTransaction and eth_signTypedData_v4) — but only while on anvil's chain, like a real wallet.
INJECTED_WALLET = """
(() => {
  const account = %(account)s;
  const anvilChain = %(anvil_chain)s;
  const typedData = %(typed_data)s;
  let chainId = %(chain_id)s;
  const known = new Set([chainId]);
  const listeners = {};
  // The log survives navigations (the retire flow ends on the certificate page).
  const saved = (() => { try { return JSON.parse(sessionStorage.getItem("__walletLog") || "[]"); } catch (e) { return []; } })();
  window.__walletLog = saved;
  window.__walletAdded = [];
  function fail(code, message) { const e = new Error(message); e.code = code; return e; }
  window.ethereum = {
    isEcoAITestWallet: true,
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
    async request({ method, params }) {
      window.__walletLog.push(method);
      try { sessionStorage.setItem("__walletLog", JSON.stringify(window.__walletLog)); } catch (e) { /* opaque origin */ }
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
      if (method === "eth_chainId") return chainId;
      if (method === "wallet_switchEthereumChain") {
        const wanted = params[0].chainId.toLowerCase();
        if (!known.has(wanted)) throw fail(4902, "Unrecognized chain ID " + wanted + ". Try adding the chain.");
        chainId = wanted;
        (listeners.chainChanged || []).forEach((fn) => fn(chainId));
        return null;
      }
      if (method === "wallet_addEthereumChain") {
        window.__walletAdded.push(params[0]);
        known.add(params[0].chainId.toLowerCase());
        return null;
      }
      if (method === "wallet_watchAsset") { window.__watched = params; return true; }
      if (method === "eth_signTypedData_v4" && !typedData) throw fail(4200, "eth_signTypedData_v4 is not supported");
      if (chainId !== anvilChain) throw fail(4901, "wallet is on chain " + chainId + ", not " + anvilChain);
      const reply = JSON.parse(await window.__anvilRpc(JSON.stringify({ method, params: params || [] })));
      if (reply.error) throw new Error(reply.error);
      return reply.result;
    },
  };
})();
"""

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def install_wallet(page: Any, web_chain: Any, account: str, chain_id: str = WRONG_CHAIN,
                   typed_data: bool = True) -> None:
    def anvil_rpc(payload: str) -> str:
        request = json.loads(payload)
        try:
            return json.dumps({"result": rpc_call(web_chain.anvil.url, request["method"], request["params"])})
        except RuntimeError as exc:
            return json.dumps({"error": str(exc)})

    page.expose_function("__anvilRpc", anvil_rpc)
    page.add_init_script(INJECTED_WALLET % {
        "account": json.dumps(account), "anvil_chain": json.dumps(hex(web_chain.w3.eth.chain_id)),
        "chain_id": json.dumps(chain_id), "typed_data": json.dumps(typed_data)})
    page.add_init_script(CSP_LISTENER)


def assert_clean(page: Any) -> None:
    """(d) No console error, no uncaught exception, no CSP violation on the page."""
    assert page.js_errors == [], page.js_errors
    assert page.evaluate("() => window.__csp || []") == []


def certificate_contract(web_chain: Any) -> Any:
    return web_chain.deployment.contract(web_chain.w3, "RetirementCertificate")


def eco_text(wei: int) -> str:
    return format(Decimal(wei) / Decimal(WEI), "f")


def beneficiary_with_credits(web_chain: Any) -> str:
    """A beneficiary with accrued credits (the browser tests claim one; prefer another)."""
    green = web_chain.green_proof
    for account in reversed(web_chain.accounts[:10]):
        if int(green.functions.accrued(account).call()) > 0:
            return account
    pytest.fail("no account on the test chain has accrued credits to claim")


def connect_from_wrong_chain(page: Any, web_chain: Any, web_server: Any) -> None:
    page.goto(web_server.url + "/claim")
    page.locator("#connect").click()
    page.wait_for_selector("#switch-network:not([hidden])")
    assert "on chain 1;" in page.locator("#status").inner_text()
    screenshot(page, "journey-dao-1-wrong-chain")
    page.locator("#switch-network").click()
    page.wait_for_function("() => document.getElementById('account').textContent.startsWith('0x')")


# ---------------------------------------------------------------- (a) verifier


def test_verifier_downloads_the_proof_files_and_snarkjs_accepts_them(page, web_server, web_chain,
                                                                    tmp_path: Path) -> None:
    proof = web_chain.proofs[0]
    page.add_init_script(CSP_LISTENER)
    page.goto(f"{web_server.url}/proofs/{proof['node']}/{proof['epoch']}")
    wanted = {"proof": "proof.json", "public": "public.json", "vk": "verification_key.json"}
    links = {}
    for key, name in wanted.items():
        link = page.locator(f"a[download='{name}']")
        assert link.count() >= 1, f"the proof page offers no {name} download"
        links[key] = link.first
    files = {}
    for key, link in links.items():
        with page.expect_download() as info:
            link.click()
        files[key] = tmp_path / wanted[key]
        info.value.save_as(files[key])
    public = json.loads(files["public"].read_text())
    assert str(proof["epoch"]) in public and str(int(proof["node"], 16)) in public
    screenshot(page, "journey-verifier-proof-page")
    snarkjs = REPO_ROOT / "node_modules" / ".bin" / "snarkjs"
    result = subprocess.run([str(snarkjs), "groth16", "verify", str(files["vk"]), str(files["public"]),
                             str(files["proof"])], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr
    assert_clean(page)


# ---------------------------------------------------------------- (b) DAO member


def test_dao_member_from_wrong_chain_to_a_retirement_certificate(page, web_server, web_chain) -> None:
    w3, eco, green = web_chain.w3, web_chain.eco_credit, web_chain.green_proof
    cert = certificate_contract(web_chain)
    member = beneficiary_with_credits(web_chain)
    accrued = int(green.functions.accrued(member).call())
    balance_before = int(eco.functions.balanceOf(member).call())
    install_wallet(page, web_chain, member)

    # Wrong chain: the page offers the switch; the wallet does not know the chain, so the page adds it (EIP-3085).
    connect_from_wrong_chain(page, web_chain, web_server)
    log = page.evaluate("() => window.__walletLog")
    assert log.index("wallet_switchEthereumChain") < log.index("wallet_addEthereumChain")
    added = page.evaluate("() => window.__walletAdded")
    assert len(added) == 1
    assert added[0]["chainId"] == hex(w3.eth.chain_id)
    assert added[0]["rpcUrls"] == [web_chain.anvil.url]
    assert added[0]["chainName"] and added[0]["nativeCurrency"] == {"name": "Ether", "symbol": "ETH", "decimals": 18}
    assert page.locator("#account").inner_text().lower() == member.lower()
    assert page.locator("#switch-network").is_hidden()

    # EIP-747: the page offers to add ECO to the wallet.
    page.locator("#watch-asset").click()
    page.wait_for_function("() => window.__watched !== undefined")
    watched = page.evaluate("() => window.__watched")
    assert watched["type"] == "ERC20" and watched["options"] == {
        "address": web_chain.deployment.address("EcoCredit"), "symbol": "ECO", "decimals": 18}

    # Claim: the ERC-20 balance grows on chain by what had accrued.
    page.wait_for_function("() => !document.getElementById('claim-button').disabled")
    assert re.fullmatch(r"0\.\d+ ECO", page.locator("#claimable").inner_text())
    page.locator("#claim-button").click()
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Claimed')",
                           timeout=30_000)
    balance = int(eco.functions.balanceOf(member).call())
    assert balance == balance_before + accrued
    assert int(page.locator("#balance").get_attribute("data-wei")) == balance
    assert page.locator("#claimable").inner_text() == "0 ECO"
    screenshot(page, "journey-dao-2-claimed")

    # Byte limits are checked in the browser (TextEncoder) before any wallet prompt: 33 × "é" is 66 bytes.
    page.wait_for_function("() => !document.getElementById('retire-button').disabled")
    amount = balance // 3
    page.locator("#retire-amount").fill(eco_text(amount))
    page.locator("#retire-name").fill("é" * 33)
    assert page.locator("#retire-name-count").inner_text() == "66 / 64 bytes"
    sent_before = page.evaluate("() => window.__walletLog.length")
    page.locator("#retire-button").click()
    assert "66 bytes of UTF-8; at most 64" in page.locator("#retire-status").inner_text()
    assert page.evaluate("() => window.__walletLog.length") == sent_before
    screenshot(page, "journey-dao-3-name-too-long")

    # Retire part of the balance with a permit (one transaction), for someone else, with a message.
    name = "Ørsted Coöp — Ünïcode 🌱"
    message = "Retired for our 2025 inference report.\nLine two: <b>not bold</b> & \"quoted\"."
    page.locator("#retire-name").fill(name)
    page.locator("#retire-message").fill(message)
    supply_before = int(eco.functions.totalSupply().call())
    retired_before = int(cert.functions.totalRetired().call())
    page.locator("#retire-button").click()
    page.wait_for_url("**/certificates/*", timeout=60_000)
    token_id = int(page.url.rsplit("/", 1)[1])
    log = page.evaluate("() => window.__walletLog")
    assert "eth_signTypedData_v4" in log and log.count("eth_sendTransaction") == 2  # claim, retireWithPermit

    # On chain: total supply and the member's balance fell by the amount; the certificate records it.
    assert int(eco.functions.totalSupply().call()) == supply_before - amount
    assert int(eco.functions.balanceOf(member).call()) == balance - amount
    assert int(cert.functions.totalRetired().call()) == retired_before + amount
    holder, cert_amount, retired_at, _total, cert_name, cert_message = cert.functions.certificate(token_id).call()
    assert (holder, cert_amount, cert_name, cert_message) == (member, amount, name, message)
    events = cert.events.Retired().get_logs(from_block=0, argument_filters={"tokenId": token_id})
    assert len(events) == 1
    tx_hash = "0x" + bytes(events[0]["transactionHash"]).hex()
    tx = w3.eth.get_transaction(tx_hash)
    func, args = cert.decode_function_input(tx["input"])
    assert func.fn_name == "retireWithPermit" and tx["from"] == member
    assert (args["amount"], args["beneficiaryName"], args["message"]) == (amount, name, message)

    # The certificate page shows what the transaction recorded, and the contract's own SVG.
    page.wait_for_selector("#certificate-facts")
    assert int(page.locator("#certificate-amount").get_attribute("data-wei")) == amount
    assert page.locator("#certificate-beneficiary").inner_text() == name
    assert page.locator("#certificate-message").inner_text() == message
    assert page.locator("#certificate-holder").inner_text() == member
    assert int(page.locator("#certificate-date").get_attribute("data-timestamp")) == retired_at
    assert tx_hash in page.locator("#certificate-tx").inner_text()
    src = page.locator("#certificate-image").get_attribute("src")
    assert src.startswith("data:image/svg+xml;base64,")
    page.wait_for_function("() => { const i = document.getElementById('certificate-image');"
                           " return i.complete && i.naturalWidth === 600; }")
    screenshot(page, "journey-dao-4-certificate")
    assert_clean(page)

    # The public index (the indexer's view of the Retired events) lists it, with the totals.
    row = page.locator(f"#certificates a[href='/certificates/{token_id}']")
    wait_for(lambda: page.goto(web_server.url + "/certificates") and row.count() == 1, "the retirement to be indexed")
    assert page.locator("#total-certificates").inner_text() == str(int(cert.functions.totalSupply().call()))
    assert page.locator("#total-retired").inner_text().endswith("ECO")
    screenshot(page, "journey-dao-5-index")
    assert_clean(page)


def test_a_wallet_without_typed_data_retires_with_approve_then_retire(page, web_server, web_chain) -> None:
    eco = web_chain.eco_credit
    cert = certificate_contract(web_chain)
    holder = next((a for a in web_chain.accounts[:10] if int(eco.functions.balanceOf(a).call()) > 0), None)
    if holder is None:  # nobody holds ECO yet (this test ran alone): claim some first, outside the browser
        holder = beneficiary_with_credits(web_chain)
        web_chain.transact(web_chain.green_proof.functions.claim(), holder)
    amount = int(eco.functions.balanceOf(holder).call()) // 10
    supply_before = int(eco.functions.totalSupply().call())
    install_wallet(page, web_chain, holder, chain_id=hex(web_chain.w3.eth.chain_id), typed_data=False)
    page.goto(web_server.url + "/claim")
    page.locator("#connect").click()
    page.wait_for_function("() => !document.getElementById('retire-button').disabled")
    page.locator("#retire-amount").fill(eco_text(amount))
    page.locator("#retire-button").click()
    page.wait_for_url("**/certificates/*", timeout=60_000)
    token_id = int(page.url.rsplit("/", 1)[1])
    assert page.evaluate("() => window.__walletLog").count("eth_sendTransaction") == 2  # approve, retire
    assert int(eco.functions.totalSupply().call()) == supply_before - amount
    assert cert.functions.certificate(token_id).call()[1] == amount
    assert "the holder itself" in page.locator("#certificate-beneficiary").inner_text()
    assert_clean(page)


# ---------------------------------------------------------------- (c) 390 px


def mobile_pages(web_chain: Any) -> dict[str, str]:
    proof = web_chain.proofs[0]
    pages = {"overview": "/", "leaderboard": "/leaderboard", "node": f"/nodes/{proof['node']}",
             "proof": f"/proofs/{proof['node']}/{proof['epoch']}", "parameters": "/parameters", "claim": "/claim",
             "certificates": "/certificates", "api-docs": "/api/docs"}
    if int(certificate_contract(web_chain).functions.totalSupply().call()) > 0:
        pages["certificate"] = "/certificates/1"
    return pages


def test_every_page_fits_a_390px_phone(browser, web_server, web_chain) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.add_init_script(CSP_LISTENER)
    try:
        for name, path in mobile_pages(web_chain).items():
            response = page.goto(web_server.url + path)
            assert response is not None and response.status == 200, (path, response and response.status)
            if name == "api-docs":
                page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide at 390 px"
            # The nav is one line that fits: every link on the same row, nothing cut off.
            tops = page.evaluate("() => [...document.querySelectorAll('header.top nav a')]"
                                 ".map((a) => Math.round(a.getBoundingClientRect().top))")
            assert len(set(tops)) == 1, (path, tops)
            assert page.evaluate("() => { const n = document.querySelector('header.top nav');"
                                 " return n.scrollWidth <= n.clientWidth; }"), path
            screenshot(page, f"mobile-{name}")
            assert page.evaluate("() => window.__csp") == [], path
        assert errors == []
    finally:
        context.close()


# ---------------------------------------------------------------- API docs (d)


def test_api_docs_load_under_our_csp_without_errors(page, web_server) -> None:
    page.add_init_script(CSP_LISTENER)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(web_server.url + "/api/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui").get_by_text("/api/totals", exact=True).count() >= 1
    page.wait_for_load_state("networkidle")
    assert all(url.startswith(web_server.url) for url in requests), [u for u in requests
                                                                       if not u.startswith(web_server.url)]
    screenshot(page, "api-docs")
    assert_clean(page)
