"""Builds the real chain the web tests read: anvil, the deployed EcoAI stack, admitted nodes and proofs.

Every proof is a real Groth16 proof from oracle.zk.Prover, submitted by the node's (anvil-unlocked) key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from oracle.chain.anvil import Anvil
from oracle.chain.deploy import admit_node, deploy_local
from oracle.chain.deployment import Deployment
from oracle.paths import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "test-results" / "web"  # gitignored; look at them after a run


ENCODER = "H200/encoder-bf16/item"  # accepts replayed readings (the demo class)
MLP = "H200/mlp8x4096/item"  # requires measured readings
WORK_PER_INTERVAL = 100  # W = 6,400 units per epoch
REPLAYED = 2 | (2 << 4)  # energy replayed, work replayed


@dataclass
class WebChain:
    anvil: Anvil
    deployment: Deployment
    deployment_file: Path
    w3: Web3
    accounts: list[str]
    proofs: list[dict[str, Any]] = field(default_factory=list)
    retirement: dict[str, Any] = field(default_factory=dict)

    @property
    def green_proof(self) -> Any:
        return self.deployment.green_proof(self.w3)

    @property
    def eco_credit(self) -> Any:
        return self.deployment.eco_credit(self.w3)

    @property
    def certificate(self) -> Any:
        return self.deployment.contract(self.w3, "RetirementCertificate")

    def transact(self, fn: Any, sender: str) -> Any:
        tx = fn.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=30)
        assert receipt["status"] == 1, receipt
        return receipt

    def advance(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block at the new time."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def prove(self, prover: Any, node: str, class_id: str, epoch: int, tier: int, methods: int = 0) -> dict[str, Any]:
        """A real v2 proof for (node, epoch) at `tier` of `class_id`: energy at 90 % of what the tier allows."""
        from oracle.zk import random_salt

        tau = self.deployment.params["classes"][class_id]["tiers_uj_per_unit"][tier]
        work = [WORK_PER_INTERVAL] * 64
        energy = [tau * sum(work) * 9 // 10 // 1000 // 64] * 64
        bundle = prover.prove_efficiency(energy, work, random_salt(), tau, epoch, node, methods)
        data = bundle.calldata()
        return {"node": node, "epoch": epoch, "tier": tier, "class_id": class_id, "efficiency_uj_per_unit": tau,
                "work": sum(work), "methods": methods, "commitment": bundle.commitment, "proof": data["proof"],
                "public_signals": bundle.public_signals, "snarkjs_proof": bundle.proof}

    def submit(self, p: dict[str, Any]) -> None:
        receipt = self.transact(self.green_proof.functions.submit(
            p["epoch"], p["tier"], p["work"], p["methods"], p["commitment"], p["proof"]), p["node"])
        self.proofs.append({**p, "tx_hash": receipt["transactionHash"].to_0x_hex(), "batch_size": 1})

    def submit_batch(self, items: list[dict[str, Any]], relayer: str) -> None:
        receipt = self.transact(self.green_proof.functions.submitBatch(
            [(p["node"], p["epoch"], p["tier"], p["work"], p["methods"], p["commitment"], p["proof"])
             for p in items]), relayer)
        for p in items:
            self.proofs.append({**p, "tx_hash": receipt["transactionHash"].to_0x_hex(), "batch_size": len(items),
                                "relayer": relayer})


def build_chain(tmp: Path) -> WebChain:
    """Two labelled nodes in two classes; three real v2 proofs: node A's first epoch by a single submit
    (replayed readings), node A's and node B's next epoch in one batch relayed by a third account; then A's
    beneficiary claims and retires a quarter of its credits (one certificate)."""
    from oracle.zk import EFFICIENCY, Prover

    anvil = Anvil(log_file=tmp / "anvil.log").start()
    try:
        deployment_file = tmp / "deployments" / "local.json"
        deployment = deploy_local(anvil.url, out=deployment_file)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        accounts = list(w3.eth.accounts)
        chain = WebChain(anvil, deployment, deployment_file, w3, accounts)
        node_a, node_b, ben_a, ben_b, relayer = accounts[1], accounts[2], accounts[3], accounts[4], accounts[5]
        admit_node(deployment, anvil.url, node_a, ben_a, ENCODER, "KR", "seoul-encoder-1")
        admit_node(deployment, anvil.url, node_b, ben_b, MLP, "FR", "paris-mlp-1")
        epoch_length = int(deployment.params["epoch_length_s"])
        # Epochs that start after the admissions, then let them end (well inside maxEpochAge).
        first = int(chain.green_proof.functions.currentEpoch().call()) + 1
        chain.advance(3 * epoch_length + 1)
        with Prover(circuit=EFFICIENCY) as prover:
            single = chain.prove(prover, node_a, ENCODER, first, 0, REPLAYED)
            batch = [chain.prove(prover, node_a, ENCODER, first + 1, 1, REPLAYED),
                     chain.prove(prover, node_b, MLP, first + 1, 1, 0)]
        chain.submit(single)
        chain.submit_batch(batch, relayer)
        claimed = int(chain.green_proof.functions.accrued(ben_a).call())
        chain.transact(chain.green_proof.functions.claim(), ben_a)
        amount = claimed // 4
        chain.transact(chain.eco_credit.functions.approve(chain.certificate.address, amount), ben_a)
        receipt = chain.transact(chain.certificate.functions.retire(amount, "Acme <Research>", "for 2026 <b>"), ben_a)
        chain.retirement = {"holder": ben_a, "amount_wei": amount, "tx_hash": receipt["transactionHash"].to_0x_hex(),
                            "beneficiary_name": "Acme <Research>", "message": "for 2026 <b>"}
        return chain
    except BaseException:
        anvil.stop()
        raise


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
