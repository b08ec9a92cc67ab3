// Retire ECO for a certificate: an EIP-2612 permit signed with eth_signTypedData_v4, then
// RetirementCertificate.retireWithPermit in one transaction; wallets without typed-data signing get
// approve + retire instead. Then the browser goes to the new certificate's page (/certificates/{id}).
// Names and messages are limited in BYTES of UTF-8 (TextEncoder), as the contract counts them.
(function () {
  "use strict";
  const root = document.getElementById("retire");
  const wallet = window.EcoAIWallet;
  if (!root || !wallet) return;
  const cfg = root.dataset;
  const claimCfg = document.getElementById("claim").dataset;
  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();
  const DECIMALS = Number(claimCfg.decimals);
  const PERMIT_SECONDS = 3600;
  const USER_REJECTED = 4001;
  const UNSUPPORTED = [4200, -32601]; // EIP-1193 unsupported method, JSON-RPC method not found
  const fields = [$("retire-amount"), $("retire-name"), $("retire-message"), $("retire-button")];

  function status(text, isError) {
    const el = $("retire-status");
    el.textContent = text;
    el.className = isError ? "bad" : "";
  }

  // ---------------------------------------------------------------- input

  function byteLength(text) {
    return encoder.encode(text).length;
  }

  function parseAmount(text) {
    const value = text.trim();
    const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
    if (!match) throw new Error("Enter the amount as a number of ECO, e.g. 0.001.");
    const frac = match[2] || "";
    if (frac.length > DECIMALS) throw new Error("ECO has " + DECIMALS + " decimals: the amount has more.");
    const wei = BigInt(match[1]) * 10n ** BigInt(DECIMALS) + BigInt((frac + "0".repeat(DECIMALS)).slice(0, DECIMALS));
    if (wei === 0n) throw new Error("Enter an amount above zero.");
    if (wei > wallet.balance) throw new Error("The amount is more than your ECO balance.");
    return wei;
  }

  function checkText(input, counter, max, what) {
    const length = byteLength(input.value);
    counter.textContent = length + " / " + max + " bytes";
    counter.classList.toggle("over", length > max);
    const problem = length > max ? what + " is " + length + " bytes of UTF-8; at most " + max + " are allowed." : "";
    input.setCustomValidity(problem);
    return problem;
  }

  function validate() {
    const problems = [
      checkText($("retire-name"), $("retire-name-count"), Number(cfg.maxNameBytes), "The beneficiary name"),
      checkText($("retire-message"), $("retire-message-count"), Number(cfg.maxMessageBytes), "The message"),
    ].filter(Boolean);
    if (problems.length) throw new Error(problems.join(" "));
    return parseAmount($("retire-amount").value);
  }

  // ---------------------------------------------------------------- ABI encoding (static words + strings)

  function word(value) {
    return BigInt(value).toString(16).padStart(64, "0");
  }

  function stringTail(text) {
    const bytes = encoder.encode(text);
    let hex = "";
    for (const b of bytes) hex += b.toString(16).padStart(2, "0");
    const padded = Math.ceil(bytes.length / 32) * 64;
    return word(bytes.length) + hex.padEnd(padded, "0");
  }

  // Calldata for f(head..., string, string, tail...) where the two strings are head words 1 and 2.
  function encodeWithStrings(selector, amount, name, text, staticTail) {
    const headWords = 3 + staticTail.length;
    const nameTail = stringTail(name);
    const nameOffset = headWords * 32;
    const messageOffset = nameOffset + nameTail.length / 2;
    return selector + word(amount) + word(nameOffset) + word(messageOffset) + staticTail.map(word).join("") +
      nameTail + stringTail(text);
  }

  function address(value) {
    return word(BigInt(value));
  }

  // ---------------------------------------------------------------- chain

  async function send(eth, to, data, what) {
    const hash = await eth.request({ method: "eth_sendTransaction", params: [{ from: wallet.account, to, data }] });
    status(what + " sent: " + hash + " — waiting for it to be mined…");
    const receipt = await wallet.waitForReceipt(eth, hash);
    if (BigInt(receipt.status) !== 1n) throw new Error(what + " reverted (" + hash + ").");
    return receipt;
  }

  async function signPermit(eth, amount) {
    const owner = wallet.account;
    const nonce = BigInt(await eth.request({
      method: "eth_call", params: [{ to: claimCfg.token, data: cfg.noncesSelector + address(owner) }, "latest"],
    }));
    // The deadline is the chain's clock, not the browser's (a local chain's clock may run ahead).
    const block = await eth.request({ method: "eth_getBlockByNumber", params: ["latest", false] });
    const deadline = BigInt(block.timestamp) + BigInt(PERMIT_SECONDS);
    const typedData = {
      types: {
        EIP712Domain: [
          { name: "name", type: "string" }, { name: "version", type: "string" },
          { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" },
        ],
        Permit: [
          { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      domain: { name: cfg.permitName, version: cfg.permitVersion, chainId: Number(BigInt(claimCfg.chainId)),
        verifyingContract: claimCfg.token },
      message: { owner, spender: cfg.certificate, value: amount.toString(), nonce: nonce.toString(),
        deadline: deadline.toString() },
    };
    const signature = await eth.request({ method: "eth_signTypedData_v4", params: [owner, JSON.stringify(typedData)] });
    const hex = signature.replace(/^0x/, "");
    if (hex.length !== 130) throw new Error("The wallet returned a malformed signature.");
    let v = parseInt(hex.slice(128, 130), 16);
    if (v < 27) v += 27;
    return { deadline, v, r: BigInt("0x" + hex.slice(0, 64)), s: BigInt("0x" + hex.slice(64, 128)) };
  }

  function certificateId(receipt) {
    const log = receipt.logs.find((l) => l.address.toLowerCase() === cfg.certificate.toLowerCase() &&
      l.topics[0] && l.topics[0].toLowerCase() === cfg.retiredTopic.toLowerCase());
    if (!log) throw new Error("The transaction minted no certificate.");
    return BigInt(log.topics[1]);
  }

  async function retire(event) {
    event.preventDefault();
    let amount;
    try {
      amount = validate();
    } catch (err) {
      status(wallet.message(err), true);
      return;
    }
    const name = $("retire-name").value;
    const text = $("retire-message").value;
    $("retire-button").disabled = true;
    try {
      const eth = wallet.provider();
      let receipt;
      let permit = null;
      try {
        status("Sign the permit for " + $("retire-amount").value.trim() + " ECO in your wallet…");
        permit = await signPermit(eth, amount);
      } catch (err) {
        const code = wallet.errorCode(err);
        if (code === USER_REJECTED || !(UNSUPPORTED.includes(code) || /not (supported|implemented)|unsupported/i.test(
          wallet.message(err)))) throw err;
      }
      if (permit) {
        status("Confirm the retirement in your wallet…");
        receipt = await send(eth, cfg.certificate, encodeWithStrings(cfg.retireWithPermitSelector, amount, name, text,
          [permit.deadline, permit.v, permit.r, permit.s]), "Retirement");
      } else {
        status("Your wallet cannot sign a permit: confirm the approval, then the retirement…");
        await send(eth, claimCfg.token, cfg.approveSelector + address(cfg.certificate) + word(amount), "Approval");
        receipt = await send(eth, cfg.certificate, encodeWithStrings(cfg.retireSelector, amount, name, text, []),
          "Retirement");
      }
      const id = certificateId(receipt);
      status("Retired in block " + BigInt(receipt.blockNumber) + ": certificate #" + id + ". Opening it…");
      window.location.assign("/certificates/" + id);
    } catch (err) {
      status(wallet.message(err), true);
      $("retire-button").disabled = false;
    }
  }

  document.addEventListener("ecoai:account", () => {
    for (const el of fields) el.disabled = false;
  });
  $("retire-name").addEventListener("input", () =>
    checkText($("retire-name"), $("retire-name-count"), Number(cfg.maxNameBytes), "The beneficiary name"));
  $("retire-message").addEventListener("input", () =>
    checkText($("retire-message"), $("retire-message-count"), Number(cfg.maxMessageBytes), "The message"));
  $("retire-form").addEventListener("submit", retire);
})();
