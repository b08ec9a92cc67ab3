"""What the epoch loop needs from measurement, proving and metrics: small, stdlib-only interfaces.

Adapters implement them: oracle.node.measuring (sampler + store), oracle.node.proving (Groth16 prover),
oracle.node.metrics (Prometheus). Stdlib only, so measurement can run where the chain libraries are absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class EpochEnergy:
    """An epoch closed into the circuit's N interval energies (mJ); `gaps` = intervals without a measurement."""

    readings_mj: list[int]
    gaps: list[int]
    methods: list[str]


@dataclass(frozen=True)
class ProofResult:
    commitment: int
    proof: list[int]  # uint256[8] as GreenProof.submit takes it
    bundle: dict[str, Any]  # snarkjs JSON: proof + public signals


class Meter(Protocol):
    """Measurement as the loop sees it: sampling runs in the background and persists every reading."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close_epoch(self, epoch: int, start_s: float, end_s: float, n: int) -> EpochEnergy: ...
    def settle_s(self) -> float:
        """How long after an epoch's end its last reading is usually stored (when to look again)."""
        ...

    def ready(self, end_s: float, now: float) -> bool:
        """Whether the readings up to `end_s` are all stored, so the epoch can be closed."""
        ...


class EpochProver(Protocol):
    def prove(self, readings_mj: Sequence[int], salt: int, threshold_mj: int, epoch: int, node: int) -> ProofResult: ...


class Metrics(Protocol):
    def epoch_closed(self, status: str, energy_mj: int, methods: Sequence[str]) -> None: ...
    def proof_made(self, seconds: float) -> None: ...
    def proof_accepted(self, epoch: int, gas: int) -> None: ...
    def proof_failed(self, result: str) -> None: ...
    def rpc_down(self, down: bool) -> None: ...
    def pending(self, count: int) -> None: ...


class NoMetrics:
    def epoch_closed(self, status: str, energy_mj: int, methods: Sequence[str]) -> None:
        pass

    def proof_made(self, seconds: float) -> None:
        pass

    def proof_accepted(self, epoch: int, gas: int) -> None:
        pass

    def proof_failed(self, result: str) -> None:
        pass

    def rpc_down(self, down: bool) -> None:
        pass

    def pending(self, count: int) -> None:
        pass
