"""Groth16 green proofs: an epoch's committed energy readings (mJ) sum to at most a threshold.

Public signals, in snarkjs order: [threshold_mj, epoch, node, commitment] (docs/INTERFACES.md);
circuits/README.md defines the circuit and the commitment chain.
"""

from oracle.zk.errors import (
    FieldOutOfRange,
    MalformedProof,
    OverThreshold,
    ProofInputError,
    ProverFailed,
    ReadingOutOfRange,
    ThresholdOutOfRange,
    WrongReadingCount,
)
from oracle.zk.prover import N_READINGS, ProofBundle, Prover, commitment, node_to_int, random_salt
from oracle.zk.verifier import check, load_verification_key, verify

__all__ = [
    "N_READINGS", "ProofBundle", "Prover", "commitment", "node_to_int", "random_salt",
    "check", "verify", "load_verification_key",
    "ProofInputError", "OverThreshold", "ReadingOutOfRange", "ThresholdOutOfRange", "WrongReadingCount",
    "FieldOutOfRange", "MalformedProof", "ProverFailed",
]
