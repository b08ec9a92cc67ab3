"""The relay's side of GreenProof: isAccepted, the node's tier values, and one signed `submitBatch` transaction,
through the node's GreenProofClient (its RPC retries, broadcast, receipts and pool look-ups)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3.exceptions import ContractLogicError, Web3RPCError

from oracle.chain.deployment import Deployment
from oracle.chain.governance import decode_custom_error
from oracle.node.chain import FeeCapExceeded, FeeCaps, GreenProofClient, Receipt, RpcUnavailable
from oracle.node.keys import NodeKey
from oracle.relay.queue import Item

log = logging.getLogger("ecoai.relay")

__all__ = ["BatchRejected", "FeeCapExceeded", "FeeCaps", "Receipt", "RelayChain", "RpcUnavailable"]

# A batch of 32 is ~2.2M gas (issue 13's goal: <= 70k per epoch); the node's 1.5M single-submit cap is too low.
DEFAULT_RELAY_FEE_CAPS = FeeCaps.from_gwei(50, 5, 15_000_000)


@dataclass
class BatchRejected(Exception):
    """The dry run of submitBatch reverted: the custom error's name and arguments (empty name: no custom error,
    `message` says what the endpoint answered)."""

    name: str
    args_: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def __str__(self) -> str:
        if not self.name:
            return self.message
        args = ", ".join(f"{k}={v}" for k, v in self.args_.items())
        return f"{self.name}({args})"


class RelayChain:
    """One relayer key's view of GreenProof. Not shared between threads: the intake and the settler each make
    their own (web3's HTTP session is not meant for concurrent use)."""

    def __init__(self, rpc_url: str, deployed: Deployment, key: NodeKey,
                 fee_caps: FeeCaps = DEFAULT_RELAY_FEE_CAPS, request_timeout: float = 10.0) -> None:
        self.client = GreenProofClient(rpc_url, deployed, key, request_timeout=request_timeout, fee_caps=fee_caps)
        self.deployed = deployed
        self.contract = self.client.contract
        self.address = key.address
        self._key = key
        self._abi = deployed.contracts["GreenProof"].abi
        self._functions = {e["name"] for e in self._abi if e.get("type") == "function"}

    # -- views ---------------------------------------------------------------------------------------------
    def check_connection(self) -> None:
        self.client.check_connection()
        if "submitBatch" not in self._functions:
            from oracle.errors import UsageError

            raise UsageError(f"--deployment: GreenProof at {self.contract.address} has no submitBatch (not v2)")

    def is_accepted(self, node: str, epoch: int) -> bool:
        return self.client.is_accepted(epoch, node)

    def tier_value(self, node: str, tier: int) -> int | None:
        """τ (µJ per unit) of tier index `tier` in the node's efficiency class, or None when the node has no
        class or the class no such tier: GreenProof then refuses it at settle time (NodeNotActive, UnknownTier)."""
        class_id = self.client.node_info(node)[1]
        if not any(class_id):
            return None
        tiers = self.client.efficiency_class(class_id).tiers_uj_per_unit
        return tiers[tier] if tier < len(tiers) else None

    def nonce(self, block: str = "latest") -> int:
        return int(self.client.rpc("eth_getTransactionCount",
                                    lambda: self.client.w3.eth.get_transaction_count(self.address, block)))

    # -- the batch transaction ----------------------------------------------------------------------------
    def _call(self, items: Sequence[Item]) -> Any:
        return self.contract.functions.submitBatch([i.struct() for i in items])

    def dry_run(self, items: Sequence[Item]) -> int:
        """The gas submitBatch(items) needs now; BatchRejected with the custom error when it would revert."""
        call = self._call(items)
        try:
            # Against the pending block, as the node does: its timestamp is what a new block will carry.
            return int(self.client.rpc("eth_estimateGas",
                                        lambda: call.estimate_gas({"from": self.address}, "pending")))
        except ContractLogicError as exc:
            data = exc.data if isinstance(exc.data, str) else ""
            try:
                name, args = decode_custom_error(self._abi, data)
            except ValueError:
                raise BatchRejected("", {}, str(exc.message or exc)) from None
            raise BatchRejected(name, args) from None
        except Web3RPCError as exc:  # e.g. points that make a precompile burn all gas
            message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else None
            raise BatchRejected("", {}, f"dry run failed: {message or exc}") from None

    def sign_batch(self, items: Sequence[Item]) -> tuple[int, str, str]:
        """Sign submitBatch(items) with the relayer's pending nonce through the node's signer (fees within the
        caps, else FeeCapExceeded before anything is signed; a revert found by its dry run: SubmitRejected).
        Returns (nonce, raw tx hex, tx hash)."""
        return self.client.sign_call(self._call(items), self.client.fee_caps.max_gas)

    def broadcast(self, raw_tx: str, tx_hash: str) -> str:
        """'sent', 'known' (in the pool or mined) or 'stale-nonce' (its nonce went to another transaction)."""
        return self.client.broadcast(raw_tx, tx_hash)

    def receipt(self, tx_hash: str) -> Receipt | None:
        return self.client.receipt(tx_hash)

    def in_pool(self, tx_hash: str) -> bool:
        return self.client.in_pool(tx_hash)
