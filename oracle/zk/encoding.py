"""Encodings shared by the v1 (oracle.zk.prover) and v2 (oracle.zk.efficiency) circuits: range-checked
integers, the node as a field element, packed readings, and Groth16 calldata. Its own module so that
efficiency.py need not import prover.py (which imports efficiency.py to prove v2 epochs)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from oracle.conventions import proof_to_calldata
from oracle.zk.errors import FieldOutOfRange

READING_BITS = 32
PACK = 7  # readings per field element in the commitment: 7 * 32 = 224 bits < 253, so packing is injective
EPOCH_BITS = 64  # GreenProof.submit takes a uint64 epoch
NODE_BITS = 160  # an Ethereum address


def node_to_int(node: int | str) -> int:
    """The node as a field element: its Ethereum address (0x + 40 hex digits) as uint160."""
    if isinstance(node, str):
        text = node.strip()
        if not (text.startswith(("0x", "0X")) and len(text) == 42):
            raise FieldOutOfRange(f"node must be a 0x-prefixed 20-byte address, got {node!r}")
        try:
            return int(text, 16)
        except ValueError:
            raise FieldOutOfRange(f"node must be a 0x-prefixed 20-byte address, got {node!r}") from None
    return _checked_int(node, NODE_BITS, "node", FieldOutOfRange)


def _checked_int(value: object, bits: int, name: str, error: type[Exception]) -> int:
    # numbers.Integral admits numpy integers too; bool is an int but never a reading.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not 0 <= value < 1 << bits:
        raise error(f"{name} must be in [0, 2^{bits}), got {value}")
    return value


def pack_readings(readings: Sequence[int]) -> list[int]:
    """The readings as field elements of PACK readings each, little-endian (reading 7j is the low 32 bits)."""
    return [sum(r << (READING_BITS * i) for i, r in enumerate(readings[k:k + PACK]))
            for k in range(0, len(readings), PACK)]


def groth16_calldata(proof: dict, public_signals: Sequence) -> dict:
    """`proof`: the uint256[8] (oracle.conventions.proof_to_calldata), `inputs`: the public inputs as ints,
    `a`, `b`, `c`: the same points split for a verifier's verifyProof(a, b, c, input)."""
    words = proof_to_calldata(proof)
    return {"proof": words, "inputs": [int(s) for s in public_signals],
            "a": words[0:2], "b": [words[2:4], words[4:6]], "c": words[6:8]}
