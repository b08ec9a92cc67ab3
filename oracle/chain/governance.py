"""The one governance writer: GreenProof's governed calls (admit a node, epoch length, efficiency classes)
signed by a governor key and sent over web3.py, plus the decoding of custom-error reverts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError

from oracle.chain.deployment import Deployment
from oracle.chain.keys import NodeKey, dev_account
from oracle.conventions import label_to_bytes32

LOCAL_GOVERNOR_DEV_INDEX = 0  # anvil account 0 deploys and governs a local chain


class TransactionRejected(Exception):
    """The contract refused a transaction (custom error name in `reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error_selectors(abi: Sequence[dict[str, Any]]) -> dict[str, str]:
    """4-byte selector (0x…) → custom error name, for every error of an ABI."""
    selectors = {}
    for entry in abi:
        if entry.get("type") == "error":
            signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry.get('inputs', []))})"
            selectors["0x" + keccak(text=signature)[:4].hex()] = entry["name"]
    return selectors


def decode_custom_error(abi: Sequence[dict[str, Any]], data: str) -> tuple[str, dict[str, Any]]:
    """(name, {argument: value}) of a custom error's revert data (addresses checksummed); ValueError when the
    data matches no error of the ABI."""
    from eth_abi import decode
    from eth_utils import to_checksum_address

    raw = bytes.fromhex(data.removeprefix("0x"))
    for entry in abi:
        if entry.get("type") != "error":
            continue
        types = [_abi_type(i) for i in entry.get("inputs", [])]
        if keccak(text=f"{entry['name']}({','.join(types)})")[:4] == raw[:4]:
            values = decode(types, raw[4:])
            return entry["name"], {i["name"]: to_checksum_address(v) if i["type"] == "address" else v
                                   for i, v in zip(entry["inputs"], values, strict=True)}
    raise ValueError(f"revert data {data} matches no custom error")


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param['components'])}){param['type'][5:]}"
    return str(param["type"])


def send_transaction(w3: Web3, key: NodeKey, call: Any, timeout_s: float = 120.0) -> str:
    """Sign and send one contract call from `key`; wait for success. Returns the transaction hash.

    A revert raises TransactionRejected with the custom error's name (from the dry run)."""
    try:
        tx = call.build_transaction(
            {
                "from": key.address,
                "nonce": w3.eth.get_transaction_count(key.address, "pending"),
                "chainId": w3.eth.chain_id,
            }
        )
    except ContractLogicError as exc:
        abi = call.contract_abi if hasattr(call, "contract_abi") else []
        data = exc.data if isinstance(exc.data, str) else ""
        raise TransactionRejected(error_selectors(abi).get(data[:10].lower(), str(exc.message or exc))) from None
    tx_hash = w3.eth.send_raw_transaction(key.sign_transaction(tx))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
    if receipt["status"] != 1:
        raise TransactionRejected(f"transaction {tx_hash.to_0x_hex()} reverted")
    return tx_hash.to_0x_hex()


class Governor:
    """GreenProof's governed writes from one governor key (default: the local chain's dev account 0)."""

    def __init__(self, w3: Web3, deployment: Deployment, key: NodeKey | None = None) -> None:
        self.w3 = w3
        self.green_proof = deployment.green_proof(w3)
        self.key = key or dev_account(LOCAL_GOVERNOR_DEV_INDEX)

    @classmethod
    def at(cls, rpc_url: str, deployment: Deployment, key: NodeKey | None = None) -> Governor:
        return cls(Web3(Web3.HTTPProvider(rpc_url)), deployment, key)

    def admit_node(self, node: str, beneficiary: str, class_id: str, region: str, label: str = "") -> str:
        """Admit (or update) `node` into efficiency class `class_id`, crediting `beneficiary` (v2 admitNode)."""
        call = self.green_proof.functions.admitNode(
            node, beneficiary, label_to_bytes32(class_id), label_to_bytes32(region), label
        )
        return send_transaction(self.w3, self.key, call)

    def set_epoch_length(self, seconds: int) -> str:
        return send_transaction(self.w3, self.key, self.green_proof.functions.setEpochLength(seconds))

    def set_efficiency_class(self, call_args: Sequence[Any]) -> str:
        """GreenProof.setEfficiencyClass with `EfficiencyClass.call_args()` (oracle.chain.deploy)."""
        return send_transaction(self.w3, self.key, self.green_proof.functions.setEfficiencyClass(*call_args))
