"""The web's thin adapter to the chain: contracts from the deployment file, live account reads, "verify again"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound

from oracle.chain.deployment import Deployment
from oracle.conventions import calldata_to_proof
from oracle.errors import UsageError


def load_deployment(path: Path) -> Deployment:
    """The deployment file (docs/INTERFACES.md); one clear UsageError when it is missing or malformed."""
    try:
        return Deployment.load(path)
    except FileNotFoundError:
        raise UsageError(f"deployment file {path} does not exist (deploy first, e.g. `ecoai up`)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"deployment file {path} is not a valid EcoAI deployment: {exc}") from None


@dataclass
class Chain:
    """web3 handles on the three contracts of one deployment."""

    w3: Web3
    green_proof: Contract
    eco_credit: Contract
    verifier: Contract
    chain_id: int
    start_block: int

    @classmethod
    def connect(cls, deployment: Deployment, rpc_url: str, timeout: float = 10.0) -> Chain:
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        return cls(w3=w3, green_proof=deployment.green_proof(w3), eco_credit=deployment.eco_credit(w3),
                   verifier=deployment.verifier(w3), chain_id=deployment.chain_id, start_block=deployment.block)

    def event_topics(self) -> dict[bytes, tuple[Contract, str]]:
        """topic0 → (contract, event name) for every event of GreenProof and EcoCredit."""
        topics: dict[bytes, tuple[Contract, str]] = {}
        for contract in (self.green_proof, self.eco_credit):
            for item in contract.abi:
                if item.get("type") == "event" and not item.get("anonymous"):
                    topics[bytes(event_abi_to_log_topic(item))] = (contract, item["name"])
        return topics

    def claim_calldata(self) -> str:
        """Calldata of `claim()`: the page hands it to the wallet, so the browser needs no ABI encoder."""
        abi = next(i for i in self.green_proof.abi if i.get("type") == "function" and i["name"] == "claim"
                   and not i.get("inputs"))
        return "0x" + bytes(function_abi_to_4byte_selector(abi)).hex()

    def account(self, address: str) -> dict[str, int]:
        """Live reads: credits accrued (claimable) and the ECO balance."""
        return {
            "claimable_wei": int(self.green_proof.functions.accrued(address).call()),
            "balance_wei": int(self.eco_credit.functions.balanceOf(address).call()),
        }

    def verify_again(self, node: str, epoch: int, threshold_mj: int, commitment: int,
                     tx_hash: str) -> dict[str, Any]:
        """Re-check an accepted proof from nothing but the chain.

        The proof bytes are not in the event: they come from the `submit` transaction's calldata. The public
        inputs are rebuilt as GreenProof builds them, [threshold, epoch, node, commitment]; then the on-chain
        verifier is asked again (eth_call) and the Python verifier checks the same proof independently.
        """
        result: dict[str, Any] = {"tx_hash": tx_hash, "public_signals": [str(threshold_mj), str(epoch),
                                                                           str(int(node, 16)), str(commitment)]}
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            result.update(error="the transaction is not on this chain any more")
            return result
        try:
            func, args = self.green_proof.decode_function_input(tx["input"])
        except ValueError:
            result.update(error="the transaction is not a direct call of GreenProof.submit; its proof cannot be "
                                "read from its calldata")
            return result
        if func.fn_name != "submit":
            result.update(error=f"the transaction calls {func.fn_name}, not submit")
            return result
        proof = [int(x) for x in args["proof"]]
        if int(args["epoch"]) != epoch or int(args["commitment"]) != commitment:
            result.update(error="the calldata's epoch or commitment differ from the indexed event")
            return result
        signals = [threshold_mj, epoch, int(node, 16), commitment]
        result["proof"] = [str(x) for x in proof]
        a, b, c = proof[0:2], [proof[2:4], proof[4:6]], proof[6:8]
        try:
            result["onchain"] = bool(self.verifier.functions.verifyProof(a, b, c, signals).call())
            result["onchain_detail"] = "Groth16Verifier.verifyProof via eth_call"
        except ContractLogicError as exc:
            result["onchain"] = False
            result["onchain_detail"] = f"verifyProof reverted: {exc}"
        result["python"], result["python_detail"] = python_verify(proof, signals)
        return result


def python_verify(proof: list[int], signals: list[int]) -> tuple[bool, str]:
    """The project's own Groth16 verifier (py_ecc, independent of snarkjs and of the contract)."""
    from oracle import zk

    try:
        reason = zk.check(zk.load_verification_key(), calldata_to_proof(proof), [str(s) for s in signals])
    except zk.MalformedProof as exc:
        return False, f"oracle.zk: malformed proof: {exc}"
    if reason is not None:
        return False, f"oracle.zk.check: {reason}"
    return True, "oracle.zk.check: pairing check passed (py_ecc, circuits/keys/verification_key.json)"
