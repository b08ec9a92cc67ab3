// Claim page: EIP-1193 wallet connect, claim() sent by the wallet, EIP-747 wallet_watchAsset.
// The server gives the claim calldata and contract addresses (data-* attributes); balances come from /api/accounts.
(function () {
  "use strict";
  const root = document.getElementById("claim");
  if (!root) return;
  const cfg = root.dataset;
  const $ = (id) => document.getElementById(id);
  let account = null;
  let claimable = 0n;

  function status(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "bad" : "";
  }

  function provider() {
    if (!window.ethereum || typeof window.ethereum.request !== "function") {
      throw new Error("No EIP-1193 wallet found: install or enable a browser wallet.");
    }
    return window.ethereum;
  }

  async function refresh() {
    if (!account) return;
    const response = await fetch("/api/accounts/" + encodeURIComponent(account), { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || ("HTTP " + response.status));
    claimable = BigInt(body.claimable_wei);
    $("claimable").textContent = body.claimable;
    $("balance").textContent = body.balance;
    $("balance").dataset.wei = body.balance_wei;
    $("claim-button").disabled = claimable === 0n;
  }

  async function connect() {
    try {
      const eth = provider();
      const accounts = await eth.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
      const chainId = await eth.request({ method: "eth_chainId" });
      if (BigInt(chainId) !== BigInt(cfg.chainId)) {
        throw new Error("Wallet is on chain " + BigInt(chainId) + "; switch it to chain " + BigInt(cfg.chainId) + ".");
      }
      account = accounts[0];
      $("account").textContent = account;
      $("watch-asset").disabled = false;
      await refresh();
      status(claimable === 0n ? "Connected. Nothing to claim right now." : "Connected. Credits are ready to claim.");
    } catch (err) {
      status(err.message || String(err), true);
    }
  }

  async function waitForReceipt(eth, hash) {
    for (let i = 0; i < 120; i++) {
      const receipt = await eth.request({ method: "eth_getTransactionReceipt", params: [hash] });
      if (receipt) return receipt;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    throw new Error("No receipt after 2 minutes for " + hash);
  }

  async function claim() {
    const button = $("claim-button");
    button.disabled = true;
    try {
      const eth = provider();
      status("Confirm the claim in your wallet…");
      const hash = await eth.request({
        method: "eth_sendTransaction",
        params: [{ from: account, to: cfg.greenProof, data: cfg.claimData }],
      });
      status("Claim sent: " + hash + " — waiting for it to be mined…");
      const receipt = await waitForReceipt(eth, hash);
      if (BigInt(receipt.status) !== 1n) throw new Error("The claim transaction reverted (" + hash + ").");
      await refresh();
      status("Claimed in block " + BigInt(receipt.blockNumber) + ". New balance: " + $("balance").textContent);
    } catch (err) {
      status(err.message || String(err), true);
      button.disabled = claimable === 0n;
    }
  }

  async function watchAsset() {
    try {
      const added = await provider().request({
        method: "wallet_watchAsset",
        params: { type: "ERC20", options: { address: cfg.token, symbol: cfg.symbol, decimals: Number(cfg.decimals) } },
      });
      status(added ? "ECO was added to your wallet." : "The wallet did not add ECO.");
    } catch (err) {
      status(err.message || String(err), true);
    }
  }

  $("connect").addEventListener("click", connect);
  $("claim-button").addEventListener("click", claim);
  $("watch-asset").addEventListener("click", watchAsset);
})();
