"""Errors of the proof path. Bad input subclasses oracle.errors.UsageError (CLI: one line, exit 2)."""

from __future__ import annotations

from oracle.errors import UsageError


class ProofInputError(UsageError):
    """The prover's inputs cannot be proved as given; nothing was proved."""


class ReadingOutOfRange(ProofInputError):
    """An interval's energy is negative, not an integer, or ≥ 2^32 mJ (the circuit's range check)."""


class WrongReadingCount(ProofInputError):
    """An epoch has exactly N = 64 intervals; a missing interval is not zero energy."""


class FieldOutOfRange(ProofInputError):
    """epoch, node or salt is outside its range (uint64, uint160 address, field element)."""


class MalformedProof(UsageError):
    """A proof, public-signals or verification-key file is not what snarkjs writes (not merely invalid)."""


class ProverFailed(RuntimeError):
    """The prover worker failed on inputs that passed validation: a bug or broken artifacts, not bad input."""


class OverEfficiencyTier(ProofInputError):
    """1000 · Σ energy_mj > tier · W: the epoch used more energy per unit of work than the tier allows."""


class ZeroWork(ProofInputError):
    """The epoch's work units total 0: energy per unit of work is undefined, and zero work never earns."""


class WorkOutOfRange(ProofInputError):
    """A work-unit count is negative, not an integer, or ≥ 2^32 (the circuit's range check)."""


class TierOutOfRange(ProofInputError):
    """The efficiency tier (µJ per work unit) is negative, not an integer, or ≥ 2^32 (the circuit's range check)."""


class MethodOutOfRange(ProofInputError):
    """A measurement-method code is not one of 0 = measured, 1 = estimated, 2 = replayed."""
