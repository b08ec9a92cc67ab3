"""Groth16 green proofs: an epoch's committed energy readings (mJ) sum to at most a threshold.

Public signals, in snarkjs order: [threshold_mj, epoch, node, commitment] (docs/INTERFACES.md);
circuits/README.md defines the circuit and the commitment chain.

v2 (circuits/efficiency.circom, built alongside until the integration step): energy per unit of work at or below
a tier; public signals [efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment]
(oracle.zk.efficiency; prove with Prover(circuit=EFFICIENCY).prove_efficiency). batch_check / batch_verify check
many proofs of one key with a single multi-pairing.
"""

from oracle.zk.artifacts import EFFICIENCY, ENERGY_BUDGET, Circuit
from oracle.zk.efficiency import (
    EfficiencyProofBundle,
    Method,
    check_efficiency_inputs,
    efficiency_commitment,
    methods_code,
)
from oracle.zk.errors import (
    FieldOutOfRange,
    MalformedProof,
    MethodOutOfRange,
    OverEfficiencyTier,
    OverThreshold,
    ProofInputError,
    ProverFailed,
    ReadingOutOfRange,
    ThresholdOutOfRange,
    TierOutOfRange,
    WorkOutOfRange,
    WrongReadingCount,
    ZeroWork,
)
from oracle.zk.prover import N_READINGS, ProofBundle, Prover, commitment, node_to_int, random_salt
from oracle.zk.verifier import batch_check, batch_verify, check, load_verification_key, verify

__all__ = [
    "N_READINGS", "ProofBundle", "Prover", "commitment", "node_to_int", "random_salt",
    "check", "verify", "load_verification_key",
    "ProofInputError", "OverThreshold", "ReadingOutOfRange", "ThresholdOutOfRange", "WrongReadingCount",
    "FieldOutOfRange", "MalformedProof", "ProverFailed",
    "Circuit", "ENERGY_BUDGET", "EFFICIENCY", "EfficiencyProofBundle", "Method", "check_efficiency_inputs",
    "efficiency_commitment", "methods_code", "batch_check", "batch_verify",
    "OverEfficiencyTier", "ZeroWork", "WorkOutOfRange", "TierOutOfRange", "MethodOutOfRange",
]
