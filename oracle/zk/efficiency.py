"""The statement proved (circuits/efficiency.circom): energy per unit of useful work stayed at or below a tier.
Everything about it but the proving itself (oracle.zk.prover): the input checks, the commitment, the circuit's
input JSON, the proof bundle and the calldata encoding.

Public signals, in snarkjs order (oracle.conventions.PUBLIC_SIGNALS, circuits/README.md):
    [efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment]
The statement: 1000 · Σ energy_mj[i] ≤ efficiency_uj_per_unit · work_units_total, with
work_units_total = Σ work_units[i] over the N = 64 intervals; each energy and work value < 2^32, the tier < 2^32,
methods < 2^8. `methods = energy_method | (work_method << 4)`, codes 0 = measured, 1 = estimated, 2 = replayed.

Commitment: c0 = P(salt, node, epoch); he = P(energy words); hw = P(work words); commitment = P(c0, he, hw),
each word packing 7 values of 32 bits (little-endian: value 7j is the word's low 32 bits).
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from oracle.conventions import N_INTERVALS, proof_to_calldata
from oracle.zk.errors import (
    FieldOutOfRange,
    MethodOutOfRange,
    OverEfficiencyTier,
    ReadingOutOfRange,
    TierOutOfRange,
    WorkOutOfRange,
    WrongReadingCount,
    ZeroWork,
)
from oracle.zk.poseidon import FIELD_MODULUS, poseidon

VALUE_BITS = 32  # each interval's energy (mJ) and work units
PACK = 7  # values per field element in the commitment: 7 * 32 = 224 bits < 253, so packing is injective
EPOCH_BITS = 64  # GreenProof takes a uint64 epoch
NODE_BITS = 160  # an Ethereum address
TIER_BITS = 32  # efficiency_uj_per_unit
SLACK_BITS = 72  # tier · W < 2^32 · 2^38 = 2^70 < 2^72
METHODS_BITS = 8
UJ_PER_MJ = 1000


def random_salt() -> int:
    """A uniformly random field element: it hides the values inside the commitment."""
    return secrets.randbelow(FIELD_MODULUS)


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


def pack_values(values: Sequence[int]) -> list[int]:
    """The 32-bit values as field elements of PACK values each, little-endian (value 7j is the low 32 bits)."""
    return [sum(v << (VALUE_BITS * i) for i, v in enumerate(values[k:k + PACK]))
            for k in range(0, len(values), PACK)]


def groth16_calldata(proof: dict, public_signals: Sequence) -> dict:
    """`proof`: the uint256[8] (oracle.conventions.proof_to_calldata), `inputs`: the public inputs as ints,
    `a`, `b`, `c`: the same points split for a verifier's verifyProof(a, b, c, input)."""
    words = proof_to_calldata(proof)
    return {"proof": words, "inputs": [int(s) for s in public_signals],
            "a": words[0:2], "b": [words[2:4], words[4:6]], "c": words[6:8]}


class Method(IntEnum):
    """How a quantity was obtained (the method labels of oracle/measure)."""

    MEASURED = 0
    ESTIMATED = 1
    REPLAYED = 2


def methods_code(energy_method: Method | int | str, work_method: Method | int | str) -> int:
    """The `methods` public signal: energy_method | (work_method << 4)."""
    return _method(energy_method, "energy method") | (_method(work_method, "work method") << 4)


def split_methods(methods: int) -> tuple[Method, Method]:
    """(energy_method, work_method) of a `methods` signal; MethodOutOfRange when not a valid code."""
    code = _checked_int(methods, METHODS_BITS, "methods", MethodOutOfRange)
    return _method(code & 0xF, "energy method"), _method(code >> 4, "work method")


def _method(value: Method | int | str, what: str) -> Method:
    if isinstance(value, str):
        try:
            return Method[value.strip().upper()]
        except KeyError:
            raise MethodOutOfRange(f"{what} must be measured, estimated or replayed, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value not in tuple(Method):
        raise MethodOutOfRange(f"{what} must be 0 (measured), 1 (estimated) or 2 (replayed), got {value!r}")
    return Method(value)


def _checked_values(values: Sequence[int], name: str, error: type[Exception]) -> list[int]:
    values = list(values)
    if len(values) != N_INTERVALS:
        raise WrongReadingCount(f"an epoch has exactly {N_INTERVALS} intervals, got {len(values)} {name} values "
                                "(a missing interval is not zero)")
    return [_checked_int(v, VALUE_BITS, f"{name} {i}", error) for i, v in enumerate(values)]


def _checked_salt(salt: int) -> int:
    salt = _checked_int(salt, 254, "salt", FieldOutOfRange)
    if salt >= FIELD_MODULUS:
        raise FieldOutOfRange("salt must be a field element (< the BN254 scalar field order)")
    return salt


def efficiency_commitment(energy_mj: Sequence[int], work_units: Sequence[int], salt: int, node: int | str,
                          epoch: int) -> int:
    """commitment = P(P(salt, node, epoch), P(energy words), P(work words)) (circuits/README.md)."""
    energy = _checked_values(energy_mj, "energy (mJ)", ReadingOutOfRange)
    work = _checked_values(work_units, "work units", WorkOutOfRange)
    node_int = node_to_int(node)
    epoch_int = _checked_int(epoch, EPOCH_BITS, "epoch", FieldOutOfRange)
    c0 = poseidon([_checked_salt(salt), node_int, epoch_int])
    return poseidon([c0, poseidon(pack_values(energy)), poseidon(pack_values(work))])


@dataclass(frozen=True)
class EfficiencyInputs:
    """Inputs that passed every check, as plain ints."""

    energy_mj: list[int]
    work_units: list[int]
    efficiency_uj_per_unit: int
    work_units_total: int
    epoch: int
    node: int
    methods: int


def check_efficiency_inputs(energy_mj: Sequence[int], work_units: Sequence[int], efficiency_uj_per_unit: int,
                            epoch: int, node: int | str, methods: int = 0) -> EfficiencyInputs:
    """Refuse what the circuit cannot prove, with one clear error (a UsageError): wrong count, a value out of
    range, total work 0 (ZeroWork), or 1000 · Σ energy > tier · W (OverEfficiencyTier)."""
    energy = _checked_values(energy_mj, "energy (mJ)", ReadingOutOfRange)
    work = _checked_values(work_units, "work units", WorkOutOfRange)
    tier = _checked_int(efficiency_uj_per_unit, TIER_BITS, "efficiency tier (µJ per work unit)", TierOutOfRange)
    epoch = _checked_int(epoch, EPOCH_BITS, "epoch", FieldOutOfRange)
    node_int = node_to_int(node)
    split_methods(methods)
    total_work, total_energy = sum(work), sum(energy)
    if total_work == 0:
        raise ZeroWork("the epoch's work units total 0: energy per unit of work is undefined and zero work "
                       "never earns; nothing to prove")
    if UJ_PER_MJ * total_energy > tier * total_work:
        per_unit = UJ_PER_MJ * total_energy / total_work
        raise OverEfficiencyTier(
            f"the epoch used {total_energy} mJ for {total_work} work units = {per_unit:.3f} µJ per unit, over "
            f"the tier of {tier} µJ per unit: nothing to prove")
    return EfficiencyInputs(energy, work, tier, total_work, epoch, node_int, int(methods))


def efficiency_circuit_input(inputs: EfficiencyInputs, salt: int) -> dict:
    """The circuit's input JSON (decimal strings) for checked inputs and a salt."""
    commit = efficiency_commitment(inputs.energy_mj, inputs.work_units, salt, inputs.node, inputs.epoch)
    return {
        "efficiency_uj_per_unit": str(inputs.efficiency_uj_per_unit),
        "work_units_total": str(inputs.work_units_total), "epoch": str(inputs.epoch), "node": str(inputs.node),
        "methods": str(inputs.methods), "commitment": str(commit),
        "energy_mj": [str(v) for v in inputs.energy_mj], "work_units": [str(v) for v in inputs.work_units],
        "salt": str(salt),
    }


@dataclass(frozen=True)
class EfficiencyProofBundle:
    """A Groth16 proof as snarkjs writes it (proof.json, public.json); public signals
    [efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment] as decimal strings."""

    proof: dict = field(hash=False)
    public_signals: list[str] = field(hash=False)

    def calldata(self) -> dict:
        """EVM calldata: `proof` the uint256[8] [a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y] (G2 as
        [c1, c0]), `inputs` the uint256[6] public inputs; `a`, `b`, `c` split for verifyProof."""
        return groth16_calldata(self.proof, self.public_signals)

    @property
    def efficiency_uj_per_unit(self) -> int:
        return int(self.public_signals[0])

    @property
    def work_units_total(self) -> int:
        return int(self.public_signals[1])

    @property
    def epoch(self) -> int:
        return int(self.public_signals[2])

    @property
    def node(self) -> int:
        return int(self.public_signals[3])

    @property
    def methods(self) -> int:
        return int(self.public_signals[4])

    @property
    def commitment(self) -> int:
        return int(self.public_signals[5])
