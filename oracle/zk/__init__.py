"""Groth16 green proofs (circuits/efficiency.circom): an epoch's energy per unit of work stayed at or below an
efficiency tier, for a commitment to its 64 (energy, work) intervals.

Public signals, in snarkjs order (oracle.conventions.PUBLIC_SIGNALS, docs/INTERFACES.md):
[efficiency_uj_per_unit, work_units_total, epoch, node, methods, commitment]; circuits/README.md defines the
circuit and the commitment chain.

- oracle.zk.efficiency: the statement: input checks, commitment, methods codes, EfficiencyProofBundle;
- oracle.zk.prover: `Prover().prove_efficiency(...)`, one persistent Node worker;
- oracle.zk.verifier: `check` / `verify` one proof, `batch_check` / `batch_verify` many proofs of the key with a
  single multi-pairing (py_ecc, independent of snarkjs);
- oracle.zk.artifacts: where the circuit's files live (`EFFICIENCY`).
"""

from oracle.zk.artifacts import EFFICIENCY, Circuit
from oracle.zk.efficiency import (
    EfficiencyProofBundle,
    Method,
    check_efficiency_inputs,
    efficiency_commitment,
    methods_code,
    node_to_int,
    random_salt,
)
from oracle.zk.errors import (
    FieldOutOfRange,
    MalformedProof,
    MethodOutOfRange,
    OverEfficiencyTier,
    ProofInputError,
    ProverFailed,
    ReadingOutOfRange,
    TierOutOfRange,
    WorkOutOfRange,
    WrongReadingCount,
    ZeroWork,
)
from oracle.zk.prover import Prover
from oracle.zk.verifier import batch_check, batch_verify, check, load_verification_key, verify

__all__ = [
    "Circuit", "EFFICIENCY",
    "EfficiencyProofBundle", "Method", "check_efficiency_inputs", "efficiency_commitment", "methods_code",
    "node_to_int", "random_salt",
    "Prover",
    "check", "verify", "batch_check", "batch_verify", "load_verification_key",
    "ProofInputError", "OverEfficiencyTier", "ZeroWork", "ReadingOutOfRange", "WorkOutOfRange", "TierOutOfRange",
    "MethodOutOfRange", "WrongReadingCount", "FieldOutOfRange", "MalformedProof", "ProverFailed",
]
