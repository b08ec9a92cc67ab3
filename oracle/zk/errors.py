"""Errors of the proof path. Bad input subclasses oracle.errors.UsageError (CLI: one line, exit 2)."""

from __future__ import annotations

from oracle.errors import UsageError


class ProofInputError(UsageError):
    """The prover's inputs cannot be proved as given; nothing was proved."""


class OverThreshold(ProofInputError):
    """The readings sum to more than the threshold: there is no honest proof to make."""


class ReadingOutOfRange(ProofInputError):
    """A reading is negative, not an integer, or ≥ 2^32 mJ (the circuit's range check)."""


class ThresholdOutOfRange(ProofInputError):
    """The threshold is negative, not an integer, or ≥ 2^64 mJ (the circuit's range check)."""


class WrongReadingCount(ProofInputError):
    """An epoch has exactly N = 64 intervals; a missing interval is not zero energy."""


class FieldOutOfRange(ProofInputError):
    """epoch, node or salt is outside its range (uint64, uint160 address, field element)."""


class MalformedProof(UsageError):
    """A proof, public-signals or verification-key file is not what snarkjs writes (not merely invalid)."""


class ProverFailed(RuntimeError):
    """The prover worker failed on inputs that passed validation: a bug or broken artifacts, not bad input."""
