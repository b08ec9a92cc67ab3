"""Adapter from the epoch loop to oracle.zk's persistent Groth16 prover (the efficiency circuit)."""

from __future__ import annotations

from collections.abc import Sequence

from oracle.node.ports import ProofResult
from oracle.zk import Prover


class ZkEpochProver:
    """One long-lived prover worker for the node's lifetime (no Node start-up per proof)."""

    def __init__(self) -> None:
        self._prover = Prover()
        self._prover.start()

    def prove_epoch(
        self, energy_mj: Sequence[int], work_units: Sequence[int], salt: int, efficiency_uj_per_unit: int,
        epoch: int, node: int, methods: int,
    ) -> ProofResult:
        bundle = self._prover.prove_efficiency(list(energy_mj), list(work_units), salt, efficiency_uj_per_unit,
                                               epoch, node, methods)
        return ProofResult(
            commitment=bundle.commitment,
            proof=[int(x) for x in bundle.calldata()["proof"]],
            bundle={"proof": bundle.proof, "publicSignals": bundle.public_signals},
        )

    def close(self) -> None:
        self._prover.close()
