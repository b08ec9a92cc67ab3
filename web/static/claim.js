// Claim page: EIP-1193 wallet connect, network switch/add (EIP-3326, then EIP-3085), claim() sent by the wallet,
// EIP-747 wallet_watchAsset. The server gives the claim calldata, contract addresses and the chain to use
// (data-* attributes); balances come from /api/accounts. Shared with retire.js through window.EcoAIWallet and
// the "ecoai:account" / "ecoai:balance" events on document.
(function () {
  "use strict";
  const root = document.getElementById("claim");
  if (!root) return;
  const cfg = root.dataset;
  const $ = (id) => document.getElementById(id);
  const UNRECOGNIZED_CHAIN = 4902; // EIP-3326: the wallet does not know the chain; add it (EIP-3085)
  let account = null;
  let claimable = 0n;
  let balance = 0n;

  function status(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "bad" : "";
  }

  function message(err) {
    return (err && err.message) || String(err);
  }

  function provider() {
    if (!window.ethereum || typeof window.ethereum.request !== "function") {
      throw new Error("No EIP-1193 wallet found: install or enable a browser wallet.");
    }
    return window.ethereum;
  }

  function errorCode(err) {
    // Some wallets nest the provider error (MetaMask mobile: data.originalError).
    if (!err) return undefined;
    if (err.code !== undefined) return Number(err.code);
    if (err.data && err.data.originalError && err.data.originalError.code !== undefined) {
      return Number(err.data.originalError.code);
    }
    return undefined;
  }

  async function onRightChain(eth) {
    const chainId = await eth.request({ method: "eth_chainId" });
    return BigInt(chainId) === BigInt(cfg.chainId);
  }

  function addChainParams() {
    if (!cfg.rpcUrl) return null;
    return {
      chainId: "0x" + BigInt(cfg.chainId).toString(16),
      chainName: cfg.chainName,
      rpcUrls: [cfg.rpcUrl],
      nativeCurrency: { name: cfg.currencyName, symbol: cfg.currencySymbol, decimals: Number(cfg.currencyDecimals) },
    };
  }

  // EIP-3326 wallet_switchEthereumChain; when the wallet does not know the chain, EIP-3085 wallet_addEthereumChain
  // with the chain id, name, RPC URL and native currency from the page, then switch again if the wallet did not.
  async function switchNetwork() {
    const eth = provider();
    const chainId = "0x" + BigInt(cfg.chainId).toString(16);
    try {
      await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
    } catch (err) {
      if (errorCode(err) !== UNRECOGNIZED_CHAIN) throw err;
      const params = addChainParams();
      if (!params) {
        throw new Error("Your wallet does not know chain " + BigInt(cfg.chainId) + " (" + cfg.chainName +
          "): add it in the wallet with its RPC URL, then connect again.");
      }
      await eth.request({ method: "wallet_addEthereumChain", params: [params] });
      if (!(await onRightChain(eth))) {
        await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
      }
    }
    if (!(await onRightChain(eth))) throw new Error("The wallet is still on another chain.");
  }

  async function refresh() {
    if (!account) return;
    const response = await fetch("/api/accounts/" + encodeURIComponent(account), { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || ("HTTP " + response.status));
    claimable = BigInt(body.claimable_wei);
    balance = BigInt(body.balance_wei);
    $("claimable").textContent = body.claimable;
    $("balance").textContent = body.balance;
    $("balance").dataset.wei = body.balance_wei;
    $("claim-button").disabled = claimable === 0n;
    document.dispatchEvent(new CustomEvent("ecoai:balance", { detail: { account, balance } }));
  }

  async function connected(eth, accounts) {
    account = accounts[0];
    $("account").textContent = account;
    $("watch-asset").disabled = false;
    $("switch-network").hidden = true;
    await refresh();
    document.dispatchEvent(new CustomEvent("ecoai:account", { detail: { account, balance } }));
    status(claimable === 0n ? "Connected. Nothing to claim right now." : "Connected. Credits are ready to claim.");
  }

  async function connect() {
    try {
      const eth = provider();
      const accounts = await eth.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
      if (!(await onRightChain(eth))) {
        const current = BigInt(await eth.request({ method: "eth_chainId" }));
        $("switch-network").hidden = false;
        status("Your wallet is on chain " + current + "; this site's contracts are on " + cfg.chainName +
          " (chain " + BigInt(cfg.chainId) + "). Switch the wallet to it" +
          (cfg.rpcUrl ? " (it is added to the wallet if it does not know it)." : "."), true);
        return;
      }
      await connected(eth, accounts);
    } catch (err) {
      status(message(err), true);
    }
  }

  async function switchAndConnect() {
    const button = $("switch-network");
    button.disabled = true;
    try {
      status("Confirm the network switch in your wallet…");
      await switchNetwork();
      const eth = provider();
      await connected(eth, await eth.request({ method: "eth_requestAccounts" }));
    } catch (err) {
      status(message(err), true);
    } finally {
      button.disabled = false;
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
      status(message(err), true);
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
      status(message(err), true);
    }
  }

  // The wallet changed chain or account on its own: start again from "connect".
  if (window.ethereum && typeof window.ethereum.on === "function") {
    window.ethereum.on("chainChanged", () => { if (account) connect(); });
    window.ethereum.on("accountsChanged", () => { if (account) connect(); });
  }

  window.EcoAIWallet = {
    provider,
    waitForReceipt,
    refresh,
    errorCode,
    message,
    get account() { return account; },
    get balance() { return balance; },
  };

  $("connect").addEventListener("click", connect);
  $("switch-network").addEventListener("click", switchAndConnect);
  $("claim-button").addEventListener("click", claim);
  $("watch-asset").addEventListener("click", watchAsset);
})();
