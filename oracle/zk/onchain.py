"""Re-verify an accepted epoch from the chain alone (`ecoai verify --onchain NODE EPOCH`).

The steps, each a pure function over web3.py objects (no EcoAI server involved):
1. `find_epoch_proved`: GreenProof's `EpochProved(node, epoch, …)` log (node and epoch are indexed topics).
2. `decode_submission`: the transaction that emitted it, its calldata decoded with the deployment's GreenProof
   ABI: `submit(epoch, tier, work, methods, commitment, proof)` (node = the transaction's sender) or
   `submitBatch(Submission[])` (the item whose node and epoch match).
3. `Submission.public_inputs`: the inputs exactly as GreenProof builds them,
   `[tiers[class][tier], work, epoch, uint160(node), methods, commitment]`, the tier's value taken from the
   event's τ (in `amounts`, conventions.decode_epoch_record: what the contract used) and cross-checked against
   the class's tiers at that block (`efficiencyClass(classId)`).
4. The proof words back to snarkjs form (`conventions.calldata_to_proof`), checked by oracle.zk.verifier against
   the efficiency verification key (the caller does this: `fetch_onchain_epoch` returns everything it needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.contract import Contract

from oracle.conventions import PUBLIC_SIGNALS, Submission, calldata_to_proof, decode_epoch_record
from oracle.errors import UsageError

LOG_CHUNK_BLOCKS = 50_000  # eth_getLogs range per query (public RPC endpoints cap the range)


class EpochNotAccepted(UsageError):
    """GreenProof never accepted this (node, epoch): no EpochProved event (exit 2)."""


class OnchainMismatch(UsageError):
    """The record cannot be rebuilt from the transaction: it called GreenProof through another contract (a
    multisig, a relayer contract), or its calldata and the event disagree. Nothing was shown invalid, nothing
    was verified (exit 2)."""


@dataclass(frozen=True)
class ProvedEvent:
    """The fields of one EpochProved log that the check needs."""

    node: str
    epoch: int
    beneficiary: str
    class_id: bytes
    tier: int
    efficiency_uj_per_unit: int
    work_units: int
    methods: int
    commitment: int
    credits: int
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True)
class DecodedSubmission(Submission):
    """One submission as decoded from a transaction's calldata: what GreenProof read to build the public inputs,
    and how it arrived."""

    function: str = "submit"  # or "submitBatch"
    sender: str = ""  # the transaction's sender (the node for submit, the relayer for submitBatch)
    batch_index: int | None = None  # position in the batch (submitBatch)
    batch_size: int | None = None


@dataclass(frozen=True)
class OnchainEpoch:
    """An accepted epoch rebuilt from the chain: its event, its submission and the public inputs."""

    event: ProvedEvent
    submission: DecodedSubmission
    public_inputs: list[int] = field(hash=False)  # [tier value, work, epoch, node, methods, commitment]
    class_tiers_at_block: list[int] | None = field(default=None, hash=False)  # None: the view was not readable

    @property
    def proof(self) -> dict[str, Any]:
        """The proof in snarkjs form (G2 coordinates swapped back to [c0, c1])."""
        return calldata_to_proof(self.submission.proof)

    @property
    def public_signals(self) -> list[str]:
        """The public inputs as snarkjs public.json writes them (decimal strings)."""
        return [str(v) for v in self.public_inputs]

    def named_inputs(self) -> list[tuple[str, int]]:
        return list(zip(PUBLIC_SIGNALS, self.public_inputs, strict=True))


def find_epoch_proved(green: Contract, node: str, epoch: int, from_block: int,
                      to_block: int | None = None, chunk: int = LOG_CHUNK_BLOCKS) -> ProvedEvent | None:
    """The EpochProved log of (node, epoch) between from_block and to_block (default: latest), or None. GreenProof
    accepts an epoch once, so there is at most one; the latest wins should a reorganised chain show two."""
    w3 = green.w3
    last = w3.eth.block_number if to_block is None else to_block
    found: ProvedEvent | None = None
    start = max(from_block, 0)
    while start <= last:
        end = min(start + chunk - 1, last)
        logs = green.events.EpochProved().get_logs(
            argument_filters={"node": Web3.to_checksum_address(node), "epoch": epoch},
            from_block=start, to_block=end)
        for log in logs:
            found = _proved_event(log)
        start = end + 1
    return found


def _proved_event(log: Any) -> ProvedEvent:
    a = log["args"]
    r = decode_epoch_record(a["record"], a["amounts"])
    return ProvedEvent(
        node=Web3.to_checksum_address(a["node"]), epoch=int(a["epoch"]), beneficiary=r.beneficiary,
        class_id=bytes(a["classId"]), tier=r.tier, efficiency_uj_per_unit=r.efficiency_uj_per_unit,
        work_units=r.work_units, methods=r.methods, commitment=int(a["commitment"]), credits=r.credits_wei,
        tx_hash=_hex(log["transactionHash"]), block_number=int(log["blockNumber"]), log_index=int(log["logIndex"]))


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def decode_submission(green: Contract, tx: Any, node: str, epoch: int) -> DecodedSubmission:
    """The submission of (node, epoch) in transaction `tx` (a web3 transaction dict), decoded with GreenProof's
    ABI. OnchainMismatch when the transaction is not a direct call of GreenProof's submit/submitBatch, or the
    batch holds no item for (node, epoch)."""
    to = tx.get("to")
    if to is None or Web3.to_checksum_address(to) != Web3.to_checksum_address(green.address):
        raise OnchainMismatch(f"transaction {_hex(tx['hash'])} calls {to}, not GreenProof {green.address} "
                              "directly (a contract relayed it); its calldata cannot be decoded here")
    try:
        function, args = green.decode_function_input(tx["input"])
    except ValueError as exc:
        raise OnchainMismatch(f"transaction {_hex(tx['hash'])}: calldata is no GreenProof function: {exc}") from None
    name = function.fn_name
    sender = Web3.to_checksum_address(tx["from"])
    node = Web3.to_checksum_address(node)
    if name == "submit":
        if sender != node:
            raise OnchainMismatch(f"transaction {_hex(tx['hash'])} is a submit from {sender}, not from node {node}")
        if int(args["epoch"]) != epoch:
            raise OnchainMismatch(f"transaction {_hex(tx['hash'])} submits epoch {args['epoch']}, not {epoch}")
        return DecodedSubmission(node=node, epoch=epoch, tier=int(args["tier"]), work=int(args["work"]),
                                 methods=int(args["methods"]), commitment=int(args["commitment"]),
                                 proof=[int(w) for w in args["proof"]], function="submit", sender=sender)
    if name == "submitBatch":
        items = list(args["items"])
        for index, raw in enumerate(items):
            item = _batch_item(raw)
            if Web3.to_checksum_address(item["node"]) == node and int(item["epoch"]) == epoch:
                return DecodedSubmission(node=node, epoch=epoch, tier=int(item["tier"]), work=int(item["work"]),
                                         methods=int(item["methods"]), commitment=int(item["commitment"]),
                                         proof=[int(w) for w in item["proof"]], function="submitBatch",
                                         sender=sender, batch_index=index, batch_size=len(items))
        raise OnchainMismatch(f"transaction {_hex(tx['hash'])}: no item of its batch of {len(items)} is node {node} "
                              f"epoch {epoch}")
    raise OnchainMismatch(f"transaction {_hex(tx['hash'])} calls GreenProof.{name}, not submit or submitBatch")


_SUBMISSION_FIELDS = ("node", "epoch", "tier", "work", "methods", "commitment", "proof")


def _batch_item(raw: Any) -> dict[str, Any]:
    """A decoded Submission struct: web3 gives a dict (named tuples) or a plain tuple in ABI order."""
    if isinstance(raw, dict):
        return dict(raw)
    return dict(zip(_SUBMISSION_FIELDS, raw, strict=True))


def check_consistent(event: ProvedEvent, submission: Submission) -> None:
    """OnchainMismatch when the calldata item is not the one the event records."""
    pairs = (("tier", event.tier, submission.tier), ("work", event.work_units, submission.work),
             ("methods", event.methods, submission.methods), ("commitment", event.commitment, submission.commitment),
             ("epoch", event.epoch, submission.epoch))
    for name, logged, sent in pairs:
        if logged != sent:
            raise OnchainMismatch(f"the event records {name} {logged}, the calldata says {sent}")


def class_tiers_at(green: Contract, class_id: bytes, block_number: int) -> list[int] | None:
    """The class's tiers (µJ per unit) in the state after `block_number`, or None when the node cannot serve
    historical state (a pruned node)."""
    try:
        result = green.functions.efficiencyClass(class_id).call(block_identifier=block_number)
    except Exception:  # noqa: BLE001 - any RPC/ABI failure only drops the cross-check
        return None
    return [int(t) for t in result[4]]


def fetch_onchain_epoch(w3: Web3, green: Contract, node: str, epoch: int, from_block: int = 0) -> OnchainEpoch:
    """Everything `ecoai verify --onchain` checks, read from the chain. EpochNotAccepted when GreenProof never
    accepted (node, epoch); OnchainMismatch when the record cannot be rebuilt (both UsageErrors: exit 2)."""
    event = find_epoch_proved(green, node, epoch, from_block)
    if event is None:
        raise EpochNotAccepted(f"GreenProof {green.address} never accepted epoch {epoch} of node "
                               f"{Web3.to_checksum_address(node)} (no EpochProved event since block {from_block})")
    tx = w3.eth.get_transaction(event.tx_hash)
    submission = decode_submission(green, tx, node, epoch)
    check_consistent(event, submission)
    tiers = class_tiers_at(green, event.class_id, event.block_number)
    return OnchainEpoch(event, submission, submission.public_inputs(event.efficiency_uj_per_unit), tiers)


def tampered(inputs: Sequence[int], index: int) -> list[int]:
    """Self-test helper: the inputs with input `index` increased by 1 (the check must then fail)."""
    if not 0 <= index < len(inputs):
        raise UsageError(f"--tamper-input must be 0..{len(inputs) - 1}, got {index}")
    changed = list(inputs)
    changed[index] += 1
    return changed
