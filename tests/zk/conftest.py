"""Proofs are expensive: one prover, one honest proof and one snarkjs-CLI proof per test session."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oracle.paths import node_tool
from oracle.zk import EFFICIENCY, EfficiencyProofBundle, Prover, load_verification_key
from oracle.zk.poseidon import poseidon

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EPOCH = 29_427_000


@dataclass(frozen=True)
class EfficiencyEpoch:
    energy: list[int]
    work: list[int]
    salt: int
    tier: int
    epoch: int
    node: str
    methods: int


@pytest.fixture(scope="session")
def vk() -> dict:
    return load_verification_key()


@pytest.fixture(scope="session")
def prover() -> Iterator[Prover]:
    with Prover() as p:
        yield p


def efficiency_epoch(seed: int, epoch: int = EPOCH, methods: int = 0x10) -> EfficiencyEpoch:
    """An epoch exactly at its tier (1000 · Σe = τ · W): the boundary the circuit must accept."""
    rng = random.Random(seed)
    work = [rng.randrange(0, 5_000) for _ in range(63)] + [(1 << 32) - 1]
    total_work = sum(work)
    tier = 2_000  # µJ per unit: 1000 · Σe = 2000 · W  <=>  Σe = 2 · W
    target = tier * total_work // 1000
    energy = [rng.randrange(0, target // 40) for _ in range(63)]
    energy.append(target - sum(energy))
    assert 0 <= energy[-1] < 1 << 32 and 1000 * sum(energy) == tier * total_work
    return EfficiencyEpoch(energy, work, rng.randrange(1 << 250), tier, epoch, NODE, methods)


@pytest.fixture(scope="session")
def epoch_inputs() -> EfficiencyEpoch:
    return efficiency_epoch(12)


@pytest.fixture(scope="session")
def bundle(prover: Prover, epoch_inputs: EfficiencyEpoch) -> EfficiencyProofBundle:
    e = epoch_inputs
    return prover.prove_efficiency(e.energy, e.work, e.salt, e.tier, e.epoch, e.node, e.methods)


def unchecked_efficiency_input(energy: list[int], work: list[int], salt: int, tier: int, epoch: int, node: str,
                               methods: int, work_total: int | None = None) -> dict:
    """circuits/README.md's v2 input without oracle.zk's checks, to feed the circuit what the checks refuse."""
    def packed(values: list[int]) -> int:
        return poseidon([sum(v << (32 * i) for i, v in enumerate(values[k:k + 7])) for k in range(0, 64, 7)])

    node_int = int(node, 16)
    commit = poseidon([poseidon([salt, node_int, epoch]), packed(energy), packed(work)])
    return {"efficiency_uj_per_unit": str(tier), "work_units_total": str(sum(work) if work_total is None
                                                                          else work_total),
            "epoch": str(epoch), "node": str(node_int), "methods": str(methods), "commitment": str(commit),
            "energy_mj": [str(v) for v in energy], "work_units": [str(v) for v in work], "salt": str(salt)}


def circuit_input(e: EfficiencyEpoch) -> dict:
    """The circuit's input JSON for an epoch, as snarkjs and the worker take it (no range checks here)."""
    return unchecked_efficiency_input(e.energy, e.work, e.salt, e.tier, e.epoch, e.node, e.methods)


@pytest.fixture(scope="session")
def snarkjs_cli_proof(tmp_path_factory: pytest.TempPathFactory, epoch_inputs: EfficiencyEpoch) -> tuple[dict, list]:
    """A proof made by `snarkjs groth16 fullprove` (CLI) from the same inputs."""
    work: Path = tmp_path_factory.mktemp("snarkjs")
    (work / "input.json").write_text(json.dumps(circuit_input(epoch_inputs)))
    subprocess.run([node_tool("snarkjs"), "groth16", "fullprove", "input.json", str(EFFICIENCY.wasm),
                    str(EFFICIENCY.zkey), "proof.json", "public.json"], cwd=work, check=True, capture_output=True,
                   timeout=300)
    return json.loads((work / "proof.json").read_text()), json.loads((work / "public.json").read_text())
