"""The one home of the conventions the parts share: units, formulas and encodings (docs/INTERFACES.md).

Every part (measure, zk, chain, node, web) imports these instead of restating them; a test checks the contracts
compute the same numbers. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# --- units -----------------------------------------------------------------------------------------------------
N_INTERVALS = 64  # intervals per epoch: the circuit's fixed number of private readings
MJ_PER_KWH = 3_600_000_000  # millijoules in one kWh (3.6 MJ)
MJ_PER_J = 1000
J_PER_KWH = MJ_PER_KWH // MJ_PER_J  # joules in one kWh (profiles and prices use joules)
ECO_DECIMALS = 18
WEI_PER_ECO = 10**ECO_DECIMALS  # 1 ECO = 1 kWh saved
MG_PER_G = 1000

# BN254 scalar field: every public input of a proof must be below it (the contract rejects aliases x + r).
SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617

# Public signals of the efficiency circuit in snarkjs order; GreenProof builds its inputs in the same order.
PUBLIC_SIGNALS = ("efficiency_uj_per_unit", "work_units_total", "epoch", "node", "methods", "commitment")


# --- formulas ---------------------------------------------------------------------------------------------------
def mj_to_kwh(energy_mj: float) -> float:
    return energy_mj / MJ_PER_KWH


def epoch_of(unix_time_s: float, epoch_seconds: int) -> int:
    """epoch = floor(t / L)."""
    return int(unix_time_s // epoch_seconds)


def epoch_bounds(epoch: int, epoch_seconds: int) -> tuple[int, int]:
    """[e·L, (e+1)·L) in unix seconds."""
    return epoch * epoch_seconds, (epoch + 1) * epoch_seconds


# --- efficiency (energy per unit of useful work) -------------------------------------------------------------
UJ_PER_MJ = 1000
UJ_PER_KWH = 3_600_000_000_000  # microjoules in one kWh: 1 ECO = 1 kWh saved


def efficiency_credits_wei(baseline_uj_per_unit: int, tier_uj_per_unit: int, work_units: int,
                           max_units_per_second: int, epoch_length_s: int) -> int:
    """ECO-wei of an accepted epoch (GreenProof._credits): (β − τ) · min(W, cap) · 10^18 / 3.6e12 with
    cap = maxUnitsPerSecond · epoch length; W = 0 → 0. GreenProof uses the class parameters in force when the
    proof is accepted and the length of the proven epoch."""
    counted = min(work_units, max_units_per_second * epoch_length_s)
    return max(baseline_uj_per_unit - tier_uj_per_unit, 0) * counted * WEI_PER_ECO // UJ_PER_KWH


def energy_bound_mj(tier_uj_per_unit: int, work_units: int) -> int:
    """The energy bound a proof implies, mJ: ceil(τ · W / 1000) (1000 · Σe ≤ τ · W)."""
    return -(-tier_uj_per_unit * work_units // UJ_PER_MJ)


def efficiency_carbon_bound_mg(tier_uj_per_unit: int, work_units: int, grams_per_kwh: int) -> int:
    """Carbon bound of an accepted epoch, mg CO2, rounded up: ceil(energy bound (mJ) · gramsPerKwh / 3.6e6)
    (GreenProof._carbonBound, EpochProved.carbonBoundMg)."""
    return -(-energy_bound_mj(tier_uj_per_unit, work_units) * grams_per_kwh * MG_PER_G // MJ_PER_KWH)


@dataclass(frozen=True)
class EpochRecord:
    """The packed fields of GreenProof's EpochProved event (`record`, `amounts`), unpacked."""

    beneficiary: str  # checksummed: the wallet credited
    tier: int  # index into the class's tiers
    methods: int  # energy_method | work_method << 4
    work_units: int
    efficiency_uj_per_unit: int  # the proven tier τ
    carbon_bound_mg: int
    credits_wei: int

    @property
    def energy_bound_mj(self) -> int:
        return energy_bound_mj(self.efficiency_uj_per_unit, self.work_units)


def decode_epoch_record(record: int, amounts: int) -> EpochRecord:
    """EpochProved's `record` (from the low bits: beneficiary 160, tier 8, methods 8, work 64) and `amounts`
    (τ 32, carbon bound 96, credits 128), as GreenProof._emitProved packs them."""
    from eth_utils import to_checksum_address

    record, amounts = int(record), int(amounts)
    return EpochRecord(
        beneficiary=to_checksum_address(f"0x{record & (1 << 160) - 1:040x}"), tier=record >> 160 & 0xFF,
        methods=record >> 168 & 0xFF, work_units=record >> 176 & (1 << 64) - 1,
        efficiency_uj_per_unit=amounts & 0xFFFFFFFF, carbon_bound_mg=amounts >> 32 & (1 << 96) - 1,
        credits_wei=amounts >> 128)


def eco_from_wei(wei: int) -> float:
    return wei / WEI_PER_ECO


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- encodings --------------------------------------------------------------------------------------------------
def label_to_bytes32(label: str) -> bytes:
    """A short ASCII label (hardware class, region) as bytes32, right-padded with zero bytes."""
    try:
        raw = label.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"label {label!r} must be ASCII") from None
    if not raw or len(raw) > 32 or b"\0" in raw:
        raise ValueError(f"label {label!r} must be 1 to 32 ASCII bytes without NUL")
    return raw.ljust(32, b"\0")


def bytes32_to_label(value: bytes) -> str:
    """The inverse of `label_to_bytes32`; bytes that are not ASCII show as U+FFFD rather than failing."""
    return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")


def proof_to_calldata(proof: dict[str, Any]) -> list[int]:
    """snarkjs proof.json → the uint256[8] GreenProof takes: [a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y].

    snarkjs keeps G2 coordinates as [c0, c1]; the EVM pairing precompile wants [c1, c0].
    """
    a, b, c = proof["pi_a"], proof["pi_b"], proof["pi_c"]
    return [int(a[0]), int(a[1]), int(b[0][1]), int(b[0][0]), int(b[1][1]), int(b[1][0]), int(c[0]), int(c[1])]


def calldata_to_proof(calldata: Sequence[int]) -> dict[str, Any]:
    """The inverse of `proof_to_calldata`: the uint256[8] back as a snarkjs proof.json."""
    if len(calldata) != 8:
        raise ValueError(f"a Groth16 proof is 8 uint256 words, got {len(calldata)}")
    p = [str(int(x)) for x in calldata]
    return {"protocol": "groth16", "curve": "bn128", "pi_a": [p[0], p[1], "1"],
            "pi_b": [[p[3], p[2]], [p[5], p[4]], ["1", "0"]], "pi_c": [p[6], p[7], "1"]}


def in_field(value: int) -> bool:
    return 0 <= value < SNARK_SCALAR_FIELD


@dataclass(frozen=True)
class Submission:
    """One epoch's claim as GreenProof takes it: its `Submission` struct (node, epoch, tier, work, methods,
    commitment, proof), which `submitBatch` takes a list of and `submit` takes without the node (the sender).
    Node, relay, on-chain re-verification and the tests extend it with what they keep next to it."""

    node: str  # checksummed address
    epoch: int
    tier: int  # index into the node's efficiency class tiers
    work: int  # W, work units in the epoch
    methods: int
    commitment: int
    proof: Sequence[int] = field(hash=False)  # uint256[8] in calldata order (`proof_to_calldata`)

    def submit_args(self) -> list[Any]:
        """GreenProof.submit's arguments: (epoch, tier, work, methods, commitment, proof)."""
        return [self.epoch, self.tier, self.work, self.methods, self.commitment, [int(w) for w in self.proof]]

    def struct(self) -> tuple:
        """GreenProof's `Submission` tuple, in field order (an item of submitBatch)."""
        return (self.node, *self.submit_args())

    def public_inputs(self, tier_uj_per_unit: int) -> list[int]:
        """The proof's public inputs as GreenProof builds them from the fields (PUBLIC_SIGNALS order):
        [τ (the tier's value, µJ per unit), W, epoch, uint160(node), methods, commitment]."""
        return [tier_uj_per_unit, self.work, self.epoch, int(self.node, 16), self.methods, self.commitment]
