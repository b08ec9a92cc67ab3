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


@dataclass
class WebChain:
    anvil: Anvil
    deployment: Deployment
    deployment_file: Path
    w3: Web3
    accounts: list[str]
    proofs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def green_proof(self) -> Any:
        return self.deployment.green_proof(self.w3)

    @property
    def eco_credit(self) -> Any:
        return self.deployment.eco_credit(self.w3)

    def transact(self, fn: Any, sender: str) -> Any:
        tx = fn.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=30)
        assert receipt["status"] == 1, receipt
        return receipt

    def submit_proofs(self, node: str, hardware_class: str, plan: list[tuple[int, int]]) -> None:
        """Prove and submit (epoch, tier) pairs for `node` with readings at 90 % of the tier's threshold."""
        from oracle.zk import Prover, random_salt

        tiers = self.deployment.params["hardware_classes"][hardware_class]["tiers_mj"]
        with Prover() as prover:
            for epoch, tier in plan:
                threshold = tiers[tier]
                readings = [threshold * 9 // 10 // 64] * 64
                bundle = prover.prove(readings, random_salt(), threshold, epoch, node)
                receipt = self.transact(self.green_proof.functions.submit(
                    epoch, tier, bundle.commitment, bundle.calldata()["proof"]), node)
                self.proofs.append({"node": node, "epoch": epoch, "tier": tier, "threshold_mj": threshold,
                                    "tx_hash": receipt["transactionHash"].to_0x_hex(),
                                    "commitment": bundle.commitment})


def build_chain(tmp: Path) -> WebChain:
    anvil = Anvil(log_file=tmp / "anvil.log").start()
    try:
        deployment_file = tmp / "deployments" / "local.json"
        deployment = deploy_local(anvil.url, out=deployment_file)
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        accounts = list(w3.eth.accounts)
        chain = WebChain(anvil, deployment, deployment_file, w3, accounts)
        node_a, node_b, ben_a, ben_b = accounts[1], accounts[2], accounts[3], accounts[4]
        admit_node(deployment, anvil.url, node_a, ben_a, "H200", "KR")
        admit_node(deployment, anvil.url, node_b, ben_b, "H100", "FR")
        epoch_length = int(chain.green_proof.functions.epochLength().call())
        current = int(chain.green_proof.functions.currentEpoch().call())
        assert epoch_length == deployment.params["epoch_length_s"]
        # Ended epochs (the contract refuses the current one), well inside maxEpochAge.
        chain.submit_proofs(node_a, "H200", [(current - 3, 0), (current - 2, 1)])
        chain.submit_proofs(node_b, "H100", [(current - 2, 2)])
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
