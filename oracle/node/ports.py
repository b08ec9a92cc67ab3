"""What the epoch loop needs from measurement, proving and metrics: small, stdlib-only interfaces.

Adapters implement them: oracle.node.measuring (sampler + store), oracle.node.proving (Groth16 prover),
oracle.node.metrics (Prometheus). Stdlib only (oracle.measure.epoch is too), so the loop's decisions can be tested
where the chain libraries are absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from oracle.measure.epoch import EpochEnergy


@dataclass(frozen=True)
class ProofResult:
    commitment: int
    proof: list[int]  # uint256[8] as GreenProof.submit takes it
    bundle: dict[str, Any]  # snarkjs JSON: proof + public signals


class Meter(Protocol):
    """Measurement as the loop sees it: sampling runs in the background and persists every reading."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def epoch_energy(self, epoch: int, start_s: float, end_s: float) -> EpochEnergy:
        """The epoch aggregated into the circuit's N interval energies, recorded once (a second call returns the
        recorded value)."""
        ...

    def settle_s(self) -> float:
        """How long after an epoch's end its last reading is usually stored (when to look again)."""
        ...

    def ready(self, end_s: float, now: float) -> bool:
        """Whether the readings up to `end_s` are all stored, so the epoch can be closed."""
        ...


class EpochProver(Protocol):
    def prove_epoch(
        self, energy_mj: Sequence[int], work_units: Sequence[int], salt: int, efficiency_uj_per_unit: int,
        epoch: int, node: int, methods: int,
    ) -> ProofResult: ...


class LoopMetrics(Protocol):
    """What the loop reports to monitoring (oracle.node.metrics.NodeMetrics puts it on Prometheus)."""

    def epoch_closed(self, status: str, energy_mj: int, work_units: int = 0) -> None: ...
    def proof_made(self, seconds: float) -> None: ...
    def proof_accepted(self, epoch: int, gas: int) -> None: ...
    def proof_failed(self, result: str) -> None: ...
    def rpc_down(self, down: bool) -> None: ...
    def pending(self, count: int) -> None: ...
    def fee_capped(self, capped: bool) -> None: ...
    def reorged(self) -> None: ...
    def footprint(self, epoch: int, energy_mj: int) -> None: ...
    def batch_sent(self, size: int) -> None: ...


class NoLoopMetrics:
    """LoopMetrics that records nothing (a loop built without an exporter)."""

    def epoch_closed(self, status: str, energy_mj: int, work_units: int = 0) -> None:
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

    def fee_capped(self, capped: bool) -> None:
        pass

    def reorged(self) -> None:
        pass

    def footprint(self, epoch: int, energy_mj: int) -> None:
        pass

    def batch_sent(self, size: int) -> None:
        pass
