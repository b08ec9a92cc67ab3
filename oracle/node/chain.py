"""The node's thin adapter to GreenProof over JSON-RPC (web3.py), built only from the deployment file's ABIs.

Expected faults surface as two exceptions the epoch loop handles without a stack trace:
`RpcUnavailable` (the endpoint does not answer, or answers something that is not an answer: retry later) and
`SubmitRejected` (the contract refuses the submission, with the custom error's name). `is_outage` is the one
place that tells the two kinds of failure apart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_utils import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BadResponseFormat, BlockNotFound, ContractLogicError, ProviderConnectionError, TimeExhausted, TransactionNotFound,
    Web3RPCError,
)

from oracle.chain.deployment import Deployment
from oracle.chain.governance import TransactionRejected, error_selectors
from oracle.conventions import bytes32_to_label, label_to_bytes32
from oracle.errors import UsageError
from oracle.node.keys import NodeKey
from oracle.node.retry import Backoff
from oracle.node.schedule import EpochSchedule

log = logging.getLogger("ecoai.oracle")
T = TypeVar("T")
QUICK_RETRY_BASE_S = 0.4  # first quick retry after 0.2-0.4 s: long enough for a blip, short for the loop

# Failures of an endpoint that is down, restarting, overloaded or broken: transport errors, timeouts, HTTP
# errors (5xx), bodies that are not JSON-RPC (empty, truncated, HTML) and JSON-RPC errors (e.g. "header not
# found"). A contract revert (ContractLogicError, custom error in its data) is an answer, never an outage.
TRANSIENT = (
    requests.exceptions.RequestException,  # ConnectionError, Timeout, HTTPError (5xx), ...
    ConnectionError,
    TimeoutError,
    TimeExhausted,
    ProviderConnectionError,
    json.JSONDecodeError,  # HTTP 200 with an empty or truncated body
    BadResponseFormat,
    Web3RPCError,
)

# JSON-RPC errors that are the endpoint's answer to the call, not an outage: the caller handles them.
DRY_RUN_REFUSALS = ("revert", "out of gas", "outofgas", "gas required exceeds", "exceeds allowance",
                    "insufficient funds", "opcode", "evm error")
POOL_REFUSALS = ("already known", "already imported", "nonce too low", "nonce has already been used",
                 "underpriced", "insufficient funds", "fee cap", "feecap", "gas limit", "intrinsic gas",
                 "exceeds block", "max fee per gas", "invalid sender", "invalid signature", "oversized")


def is_outage(exc: BaseException, refusals: Sequence[str] = ()) -> bool:
    """True when `exc` says the endpoint is unavailable (retry later), False for an answer the caller handles: a
    contract revert, or a JSON-RPC error whose message contains one of `refusals` (e.g. "nonce too low")."""
    if isinstance(exc, ContractLogicError) or not isinstance(exc, TRANSIENT):
        return False
    if isinstance(exc, Web3RPCError):
        message = str(exc).lower()
        return not any(r in message for r in refusals)
    return True


def _describe(exc: BaseException) -> str:
    """One short line for the log: the exception's type, and a JSON-RPC error's message."""
    if isinstance(exc, Web3RPCError):
        error = exc.rpc_response.get("error", {}) if isinstance(exc.rpc_response, dict) else {}
        message = error.get("message") if isinstance(error, dict) else None
        return f"{type(exc).__name__}: {str(message or exc)[:80]}"
    return type(exc).__name__


class _CheckedHTTPProvider(HTTPProvider):
    """web3's HTTPProvider, refusing an answer that is not to the request it sent (another JSON-RPC id, not an
    object): BadResponseFormat, an outage, rather than another request's result read as this one's."""

    def make_request(self, method: Any, params: Any) -> Any:
        request_data = self.encode_rpc_request(method, params)
        sent_id = json.loads(request_data)["id"]
        response = self.decode_rpc_response(self._make_request(method, request_data))
        if not isinstance(response, dict):
            raise BadResponseFormat(f"{method}: the answer is not a JSON-RPC object")
        if response.get("id") != sent_id and not ("error" in response and response.get("id") is None):
            raise BadResponseFormat(f"{method}: the answer has id {response.get('id')!r}, the request {sent_id!r}")
        return response


class RpcUnavailable(Exception):
    """The RPC endpoint did not answer; the caller queues the work and retries with backoff."""


class SubmitRejected(TransactionRejected):
    """GreenProof refused the node's submission (custom error name in `reason`)."""


class FeeCapExceeded(Exception):
    """The fees or gas the endpoint asks for are above the configured caps: nothing is signed, the epoch waits."""


@dataclass(frozen=True)
class FeeCaps:
    """The most the node ever signs for one submit (config [submit]); wei per gas and gas."""

    max_fee_per_gas_wei: int
    max_priority_fee_wei: int
    max_gas: int

    @classmethod
    def from_gwei(cls, max_fee_gwei: float, max_priority_gwei: float, max_gas: int) -> FeeCaps:
        return cls(int(max_fee_gwei * 10**9), int(max_priority_gwei * 10**9), int(max_gas))


# Caps for a client built without a config (tests, tools): the local defaults of oracle.node.config.
DEFAULT_FEE_CAPS = FeeCaps.from_gwei(50, 5, 1_500_000)


@dataclass(frozen=True)
class EfficiencyClassView:
    """A node's efficiency class as GreenProof v2 stores it (µJ per work unit)."""

    class_id: str
    hardware_class: str
    workload: str
    unit: str
    baseline_uj_per_unit: int
    tiers_uj_per_unit: list[int]
    min_work_per_epoch: int
    max_units_per_second: int
    require_measured: bool


@dataclass(frozen=True)
class BatchItem:
    """One of the node's proved epochs in a submitBatch."""

    epoch: int
    tier: int
    work: int
    methods: int
    commitment: int
    proof: Sequence[int]


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    status: int
    gas_used: int
    block: int
    block_hash: str = ""


class GreenProofClient:
    def __init__(
        self, rpc_url: str, deployed: Deployment, key: NodeKey, request_timeout: float = 5.0, quick_retries: int = 2,
        fee_caps: FeeCaps = DEFAULT_FEE_CAPS, on_rpc: Callable[[bool], None] | None = None,
    ) -> None:
        self.url = rpc_url
        self.w3 = Web3(_CheckedHTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
        # web3's own retry middleware would hide outages from our queue; we retry here, visibly.
        self.deployed = deployed
        self.contract = deployed.green_proof(self.w3)
        self.key = key
        self.address = key.address
        self.quick_retries = quick_retries
        self._errors = error_selectors(deployed.contracts["GreenProof"].abi)
        self.fee_caps = fee_caps
        # Told whether each RPC interaction got an answer (the exporter's /readyz).
        self.on_rpc = on_rpc or (lambda ok: None)

    # -- plumbing ------------------------------------------------------------------------------------------
    def rpc(self, what: str, call: Callable[[], T], refusals: Sequence[str] = ()) -> T:
        """Run one RPC interaction; a few quick retries for blips, then RpcUnavailable for the queue. Any
        failure `is_outage` classifies as the endpoint's is retried; reverts and JSON-RPC errors naming one of
        `refusals` reach the caller as they are."""
        backoff = Backoff(base_s=QUICK_RETRY_BASE_S)
        for attempt in range(self.quick_retries + 1):
            try:
                value = call()
            except Exception as exc:
                if not is_outage(exc, refusals):
                    if isinstance(exc, (ContractLogicError, Web3RPCError)):
                        self.on_rpc(True)  # the endpoint answered: a revert, a refusal
                    raise
                if attempt == self.quick_retries:
                    self.on_rpc(False)
                    raise RpcUnavailable(f"{what}: {self.url} unavailable ({_describe(exc)})") from None
                time.sleep(backoff.next_delay())
            else:
                self.on_rpc(True)
                return value
        raise AssertionError("unreachable")

    def _revert_name(self, exc: ContractLogicError) -> str:
        data = exc.data if isinstance(exc.data, str) else None
        if data and len(data) >= 10:
            return self._errors.get(data[:10].lower(), f"unknown error {data[:10]}")
        return str(exc.message or exc)

    # -- views ---------------------------------------------------------------------------------------------
    def check_connection(self) -> None:
        chain_id = self.rpc("eth_chainId", lambda: self.w3.eth.chain_id)
        if chain_id != self.deployed.chain_id:
            raise UsageError(
                f"config field chain.rpc_url: chain id {chain_id} is not the deployment's {self.deployed.chain_id}"
            )
        code = self.rpc("eth_getCode", lambda: self.w3.eth.get_code(self.contract.address))
        if not code:
            raise UsageError(
                f"config field chain.deployment: no GreenProof code at {self.contract.address} on {self.url}"
            )

    def max_epoch_age(self) -> int:
        return int(self.rpc("maxEpochAge", self.contract.functions.maxEpochAge().call))

    def schedule(self) -> EpochSchedule:
        """GreenProof's epoch schedule (segments): the node's only source of epoch numbers and bounds."""
        return EpochSchedule.of(self.rpc("schedule", self.contract.functions.schedule().call))

    def efficiency_class(self, class_id: bytes) -> EfficiencyClassView:
        raw = self.rpc("efficiencyClass", self.contract.functions.efficiencyClass(class_id).call)
        return EfficiencyClassView(
            class_id=bytes32_to_label(class_id), hardware_class=bytes32_to_label(raw[0]),
            workload=bytes32_to_label(raw[1]), unit=bytes32_to_label(raw[2]), baseline_uj_per_unit=int(raw[3]),
            tiers_uj_per_unit=[int(t) for t in raw[4]], min_work_per_epoch=int(raw[5]),
            max_units_per_second=int(raw[6]), require_measured=bool(raw[7]),
        )

    def carbon_factor_of(self, region: str | bytes) -> int:
        region = region if isinstance(region, bytes) else label_to_bytes32(region)
        return int(self.rpc("carbonFactorOf", self.contract.functions.carbonFactorOf(region).call))

    def node_info(self, node: str | None = None) -> tuple[str, bytes, bytes, bool, int]:
        """(beneficiary, classId, region, active, admittedAt) of GreenProof v2's nodeInfo."""
        info = self.rpc("nodeInfo", self.contract.functions.nodeInfo(node or self.address).call)
        return (info[0], bytes(info[1]), bytes(info[2]), bool(info[3]), int(info[4]))

    def is_accepted(self, epoch: int, node: str | None = None) -> bool:
        return bool(self.rpc("isAccepted",
                              self.contract.functions.isAccepted(node or self.address, epoch).call))

    def accrued(self, beneficiary: str) -> int:
        return int(self.rpc("accrued", self.contract.functions.accrued(beneficiary).call))

    def acceptance_event(self, epoch: int) -> Receipt | None:
        """The EpochProved event of (this node, epoch), as the receipt of the transaction that emitted it."""
        logs = self.rpc(
            "eth_getLogs",
            lambda: self.contract.events.EpochProved.get_logs(
                argument_filters={"node": self.address, "epoch": epoch}, from_block=self.deployed.block
            ),
        )
        if not logs:
            return None
        return self.receipt(logs[0]["transactionHash"].to_0x_hex())

    # -- transactions --------------------------------------------------------------------------------------
    def sign_submit(self, epoch: int, tier: int, work: int, methods: int, commitment: int,
                    proof: Sequence[int]) -> tuple[int, str, str]:
        """v2 `submit(epoch, tier, work, methods, commitment, proof)`: check the fees against the caps, dry-run
        (a revert raises SubmitRejected), then sign with the pending nonce. Returns (nonce, raw, hash). Fees or
        gas above the caps raise FeeCapExceeded before anything is signed: the endpoint's suggestions are advice,
        never an order."""
        call = self.contract.functions.submit(epoch, tier, work, methods, commitment, [int(x) for x in proof])
        return self.sign_call(call, self.fee_caps.max_gas)

    def sign_batch(self, items: Sequence[BatchItem]) -> tuple[int, str, str]:
        """v2 `submitBatch(Submission[])` of this node's own proved epochs, one transaction; same checks and
        caps as `sign_submit`, the gas cap scaled by the number of items (each item stays under the per-submit
        cap). Returns (nonce, raw, hash)."""
        subs = [(self.address, i.epoch, i.tier, i.work, i.methods, i.commitment, [int(x) for x in i.proof])
                for i in items]
        call = self.contract.functions.submitBatch(subs)
        return self.sign_call(call, self.fee_caps.max_gas * len(subs))

    def sign_call(self, call: Any, max_gas: int) -> tuple[int, str, str]:
        """Dry-run and sign one contract call with this key's pending nonce, fees within the caps (else
        FeeCapExceeded, nothing signed) and gas at most `max_gas`; a revert found by the dry run raises
        SubmitRejected. Returns (nonce, raw tx hex, tx hash); nothing is broadcast (see `broadcast`)."""
        caps = self.fee_caps
        base_fee = int(
            self.rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        )
        tip = int(self.rpc("eth_maxPriorityFeePerGas", lambda: self.w3.eth.max_priority_fee))
        if tip > caps.max_priority_fee_wei:
            raise FeeCapExceeded(
                f"priority fee {tip / 1e9:.3f} gwei suggested by the endpoint exceeds submit.max_priority_fee_gwei "
                f"({caps.max_priority_fee_wei / 1e9:g})"
            )
        if base_fee + tip > caps.max_fee_per_gas_wei:
            raise FeeCapExceeded(
                f"fee per gas {(base_fee + tip) / 1e9:.3f} gwei (base {base_fee / 1e9:.3f} + tip {tip / 1e9:.3f}) "
                f"exceeds submit.max_fee_per_gas_gwei ({caps.max_fee_per_gas_wei / 1e9:g})"
            )
        try:
            # Against the pending block: its timestamp is the chain's "now", which is what a new block will carry
            # (the latest block can be older than the epoch's end on an idle chain).
            gas = self.rpc("eth_estimateGas", lambda: call.estimate_gas({"from": self.address}, "pending"),
                           refusals=DRY_RUN_REFUSALS)
        except ContractLogicError as exc:
            raise SubmitRejected(self._revert_name(exc)) from None
        except Web3RPCError as exc:  # e.g. a proof whose points make the pairing precompile burn all gas
            message = exc.rpc_response.get("error", {}).get("message") if exc.rpc_response else None
            raise SubmitRejected(f"dry run failed: {message or exc}") from None
        gas_limit = int(gas) * 5 // 4 + 10_000
        if gas_limit > max_gas:
            raise FeeCapExceeded(
                f"gas {gas_limit} (estimate {gas} + margin) exceeds submit.max_gas_per_submit ({max_gas})"
            )
        nonce = self.rpc("eth_getTransactionCount", lambda: self.w3.eth.get_transaction_count(self.address, "pending"))
        tx = call.build_transaction(
            {
                "from": self.address,
                "nonce": nonce,
                "gas": gas_limit,
                # Room for the base fee to double, but never above the cap (base + tip fits, checked above).
                "maxFeePerGas": min(2 * base_fee + tip, caps.max_fee_per_gas_wei),
                "maxPriorityFeePerGas": tip,
                "chainId": self.deployed.chain_id,
            }
        )
        raw = self.key.sign_transaction(tx)
        return nonce, "0x" + raw.hex(), "0x" + keccak(raw).hex()

    def broadcast(self, raw_tx: str, tx_hash: str) -> str:
        """Send the stored signed transaction. Returns 'sent', 'known' (already in pool or mined) or 'stale-nonce'."""
        try:
            self.rpc("eth_sendRawTransaction", lambda: self.w3.eth.send_raw_transaction(raw_tx), refusals=POOL_REFUSALS)
            return "sent"
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return "known"
            if "nonce too low" in message or "nonce has already been used" in message:
                # Mined already (ours) or replaced by another of our transactions: the receipt tells which.
                return "known" if self.receipt(tx_hash) is not None else "stale-nonce"
            raise SubmitRejected(f"eth_sendRawTransaction refused: {exc}") from None

    def receipt(self, tx_hash: str) -> Receipt | None:
        def fetch() -> Receipt | None:
            try:
                r = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
            return Receipt(r["transactionHash"].to_0x_hex(), int(r["status"]), int(r["gasUsed"]), int(r["blockNumber"]),
                           r["blockHash"].to_0x_hex())

        return self.rpc("eth_getTransactionReceipt", fetch)

    def in_pool(self, tx_hash: str) -> bool:
        def fetch() -> bool:
            try:
                self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
                return True
            except TransactionNotFound:
                return False

        return self.rpc("eth_getTransactionByHash", fetch)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber", lambda: self.w3.eth.block_number))

    def canonical_hash(self, block: int) -> str | None:
        """Hash of the block at this height on the endpoint's canonical chain (None beyond its head)."""

        def fetch() -> str | None:
            try:
                return self.w3.eth.get_block(block)["hash"].to_0x_hex()
            except BlockNotFound:
                return None

        return self.rpc("eth_getBlockByNumber", fetch)

    def confirmations_of(self, receipt: Receipt) -> int:
        """Blocks on the canonical chain from the receipt's block to the head (1 = just mined); 0 when the
        receipt's block is not on the canonical chain (a reorg replaced it)."""
        if self.canonical_hash(receipt.block) != receipt.block_hash:
            return 0
        return max(0, self.block_number() - receipt.block + 1)

    def wait_receipt(self, tx_hash: str, timeout_s: float, confirmations: int = 1) -> Receipt | None:
        """Poll for the receipt with `confirmations` canonical blocks on top; None when it does not come within
        the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None and self.confirmations_of(receipt) >= confirmations:
                return receipt
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)
