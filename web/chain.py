"""The web's thin adapter to the chain: contracts from the deployment file, live account reads, "verify again"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound

from oracle.chain.deployment import Deployment
from oracle.conventions import calldata_to_proof
from oracle.paths import REPO_ROOT

CERTIFICATE = "RetirementCertificate"



@dataclass
class Chain:
    """web3 handles on the contracts of one deployment (RetirementCertificate only where it was deployed)."""

    w3: Web3
    green_proof: Contract
    eco_credit: Contract
    verifier: Contract
    chain_id: int
    start_block: int
    certificate: Contract | None = None

    @classmethod
    def connect(cls, deployment: Deployment, rpc_url: str, timeout: float = 10.0) -> Chain:
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        certificate = (deployment.contract(w3, CERTIFICATE) if CERTIFICATE in deployment.contracts else None)
        return cls(w3=w3, green_proof=deployment.green_proof(w3), eco_credit=deployment.eco_credit(w3),
                   verifier=deployment.verifier(w3), chain_id=deployment.chain_id, start_block=deployment.block,
                   certificate=certificate)

    @property
    def indexed_contracts(self) -> list[Contract]:
        """The contracts whose events the indexer follows."""
        return [c for c in (self.green_proof, self.eco_credit, self.certificate) if c is not None]

    def event_topics(self) -> dict[tuple[str, bytes], tuple[Contract, str]]:
        """(contract address, topic0) → (contract, event name) for every event of the indexed contracts (keyed by
        address too: ERC-20 and ERC-721 `Transfer` share one topic)."""
        topics: dict[tuple[str, bytes], tuple[Contract, str]] = {}
        for contract in self.indexed_contracts:
            for item in contract.abi:
                if item.get("type") == "event" and not item.get("anonymous"):
                    topics[(contract.address, bytes(event_abi_to_log_topic(item)))] = (contract, item["name"])
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

    def submitted(self, tx: Any) -> list[dict[str, Any]]:
        """The submissions a GreenProof `submit` / `submitBatch` transaction carries: node, epoch, tier, work,
        methods, commitment, proof (ints). ValueError if the transaction is not such a direct call."""
        if tx.get("to") is None or Web3.to_checksum_address(tx["to"]) != self.green_proof.address:
            raise ValueError("the transaction does not call GreenProof directly")
        func, args = self.green_proof.decode_function_input(tx["input"])
        if func.fn_name == "submit":
            items = [{"node": Web3.to_checksum_address(tx["from"]), "epoch": args["epoch"], "tier": args["tier"],
                      "work": args["work"], "methods": args["methods"], "commitment": args["commitment"],
                      "proof": args["proof"]}]
        elif func.fn_name == "submitBatch":
            items = [dict(item) if isinstance(item, dict) else dict(zip(SUBMISSION_FIELDS, item))
                     for item in args["items"]]
        else:
            raise ValueError(f"the transaction calls {func.fn_name}, not submit or submitBatch")
        return [{"node": Web3.to_checksum_address(i["node"]), "epoch": int(i["epoch"]), "tier": int(i["tier"]),
                 "work": int(i["work"]), "methods": int(i["methods"]), "commitment": int(i["commitment"]),
                 "proof": [int(x) for x in i["proof"]]} for i in items]

    def proofs_in(self, tx: Any) -> dict[tuple[str, int], str]:
        """(node, epoch) → the proof (JSON list of 8 decimal strings) of each submission in a transaction; empty
        when its calldata cannot be read as a GreenProof submission."""
        try:
            items = self.submitted(tx)
        except ValueError:
            return {}
        return {(i["node"], i["epoch"]): json.dumps([str(x) for x in i["proof"]]) for i in items}

    def verify_again(self, node: str, epoch: int, signals: list[int], tx_hash: str) -> dict[str, Any]:
        """Re-check an accepted proof from nothing but the chain.

        The proof bytes are not in the event: they come from the settling transaction's calldata (`submit`, or the
        node's item of `submitBatch`). The public inputs are rebuilt as GreenProof builds them from the indexed
        event, [efficiency τ, work, epoch, node, methods, commitment]; then the on-chain verifier is asked again
        (eth_call) and the Python verifier checks the same proof independently.
        """
        result: dict[str, Any] = {"tx_hash": tx_hash, "public_signals": [str(s) for s in signals]}
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            result.update(error="the transaction is not on this chain any more")
            return result
        try:
            items = self.submitted(tx)
        except ValueError as exc:
            result.update(error=f"{exc}: its proof cannot be read from its calldata")
            return result
        item = next((i for i in items if i["node"] == node and i["epoch"] == epoch), None)
        if item is None:
            result.update(error="the transaction carries no submission for this node and epoch")
            return result
        if [item["work"], item["methods"], item["commitment"]] != [signals[1], signals[4], signals[5]]:
            result.update(error="the calldata's work, methods or commitment differ from the indexed event")
            return result
        proof = item["proof"]
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


SUBMISSION_FIELDS = ("node", "epoch", "tier", "work", "methods", "commitment", "proof")


def verification_key_path() -> Path:
    """The efficiency circuit's snarkjs verification key (the one GreenProof's verifier was generated from)."""
    from oracle.zk.artifacts import EFFICIENCY

    return EFFICIENCY.verification_key


def python_verify(proof: list[int], signals: list[int]) -> tuple[bool, str]:
    """The project's own Groth16 verifier (py_ecc, independent of snarkjs and of the contract)."""
    from oracle import zk

    path = verification_key_path()
    try:
        reason = zk.check(zk.load_verification_key(path), calldata_to_proof(proof), [str(s) for s in signals])
    except zk.MalformedProof as exc:
        return False, f"oracle.zk: malformed proof: {exc}"
    if reason is not None:
        return False, f"oracle.zk.check: {reason}"
    return True, f"oracle.zk.check: pairing check passed (py_ecc, {path.relative_to(REPO_ROOT)})"
