"""What the relay accepts: a hand-over's JSON parsed into an Item, its public signals matched against its fields,
and its Groth16 proof checked with the Python verifier, before anything is queued."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from eth_utils import is_address, to_checksum_address

from oracle.conventions import SNARK_SCALAR_FIELD, calldata_to_proof, proof_to_calldata
from oracle.relay.queue import Item
from oracle.zk.errors import MalformedProof
from oracle.zk.verifier import check

UINT64 = 1 << 64
FIELDS = ("node", "epoch", "tier", "work", "methods", "commitment", "proof", "public_signals")
# Index of each field in the efficiency circuit's public signals (oracle.conventions.PUBLIC_SIGNALS).
TAU, WORK, EPOCH, NODE, METHODS, COMMITMENT = range(6)


class Refused(Exception):
    """The hand-over is refused; `reason` says why, `status` is the HTTP status (422 invalid, 409 conflict)."""

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _uint(body: Mapping[str, Any], name: str, limit: int) -> int:
    value = body[name]
    # JSON numbers above 2^53 lose precision in most clients, so big values come as decimal strings.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise Refused(f"{name} must be an integer in [0, {limit}), got {body[name]!r:.80}")
    return value


def _proof_words(value: Any) -> list[int]:
    """uint256[8] (as GreenProof takes it) or a snarkjs proof object → the 8 words."""
    if isinstance(value, dict):
        try:
            words = proof_to_calldata(value)
        except (KeyError, IndexError, TypeError, ValueError):
            raise Refused("proof is neither uint256[8] nor a snarkjs groth16 proof") from None
    elif isinstance(value, list) and len(value) == 8:
        words = []
        for w in value:
            if isinstance(w, str) and w.isascii() and w.isdigit():
                w = int(w)
            if isinstance(w, bool) or not isinstance(w, int):
                raise Refused("proof words must be integers or decimal strings")
            words.append(w)
    else:
        raise Refused("proof must be uint256[8] or a snarkjs groth16 proof object")
    if any(not 0 <= w < 1 << 256 for w in words):
        raise Refused("a proof word does not fit in a uint256")
    return words


def parse_submission(body: Any) -> Item:
    """The hand-over JSON {node, epoch, tier, work, methods, commitment, proof, public_signals} as an Item;
    Refused (422) on anything missing or out of range."""
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    missing = [name for name in FIELDS if name not in body]
    if missing:
        raise Refused(f"missing field(s): {', '.join(missing)}")
    if not isinstance(body["node"], str) or not is_address(body["node"]):
        raise Refused(f"node must be a 20-byte hex address, got {body['node']!r:.80}")
    signals = body["public_signals"]
    if not isinstance(signals, list) or len(signals) != 6:
        raise Refused("public_signals must be the efficiency circuit's 6 public signals")
    if not all(isinstance(s, (str, int)) and not isinstance(s, bool) and str(s).isascii() and str(s).isdigit()
               for s in signals):
        raise Refused("public_signals must be decimal strings")
    return Item(
        node=to_checksum_address(body["node"]), epoch=_uint(body, "epoch", UINT64), tier=_uint(body, "tier", 256),
        work=_uint(body, "work", UINT64), methods=_uint(body, "methods", 256),
        commitment=_uint(body, "commitment", SNARK_SCALAR_FIELD), proof=_proof_words(body["proof"]),
        public_signals=[str(int(s)) for s in signals], received_at=time.time())


def check_submission(item: Item, vk: dict, tier_value: int | None) -> None:
    """Refused (422) unless the public signals are exactly the submission's fields (node, epoch, methods,
    commitment, work; the tier's τ when `tier_value` is known) and the proof verifies under `vk`.

    GreenProof builds the public inputs from the fields, so a proof whose signals differ could never be
    accepted there: refusing it here keeps it out of every batch."""
    signals = [int(s) for s in item.public_signals]
    expected = {WORK: ("work", item.work), EPOCH: ("epoch", item.epoch), NODE: ("node", int(item.node, 16)),
                METHODS: ("methods", item.methods), COMMITMENT: ("commitment", item.commitment)}
    if tier_value is not None:
        expected[TAU] = (f"tier {item.tier}'s efficiency (µJ per unit)", tier_value)
    for index, (name, value) in sorted(expected.items()):
        if signals[index] != value:
            raise Refused(f"public signal {index} ({name}) is {signals[index]}, the submission says {value}")
    try:
        reason = check(vk, calldata_to_proof(item.proof), item.public_signals)
    except MalformedProof as exc:
        raise Refused(f"malformed proof: {exc}") from None
    if reason is not None:
        raise Refused(f"the proof does not verify: {reason}")


def intake(body: Any, vk: dict, *, known: Callable[[str, int], Item | None],
           accepted: Callable[[str, int], bool | None],
           tier_value: Callable[[str, int], int | None]) -> tuple[Item, bool]:
    """Parse and check one hand-over. `known(node, epoch)` is the queue's record (returned as is: idempotent);
    `accepted(node, epoch)` is the chain's isAccepted (None when the chain does not answer: checked again before
    sending); `tier_value(node, tier)` is τ of the node's class (None when unknown: GreenProof checks it).
    Returns (item, True) when (node, epoch) is already known (the stored item), else (the checked item, False)."""
    item = parse_submission(body)
    stored = known(item.node, item.epoch)
    if stored is not None:
        return stored, True
    if accepted(item.node, item.epoch):
        raise Refused(f"epoch {item.epoch} of {item.node} is already accepted on chain", status=409)
    check_submission(item, vk, tier_value(item.node, item.tier))
    return item, False
