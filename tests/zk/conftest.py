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
from oracle.zk import ProofBundle, Prover, load_verification_key
from oracle.zk.poseidon import poseidon
from oracle.zk.artifacts import WASM_FILE, ZKEY_FILE

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EPOCH = 29_427_000


@dataclass(frozen=True)
class Epoch:
    readings: list[int]
    salt: int
    threshold: int
    epoch: int
    node: str


@pytest.fixture(scope="session")
def vk() -> dict:
    return load_verification_key()


@pytest.fixture(scope="session")
def epoch_inputs() -> Epoch:
    rng = random.Random(11)
    readings = [rng.randrange(1_000_000, 60_000_000) for _ in range(63)] + [(1 << 32) - 1]
    # threshold == sum: the boundary the circuit must accept (sum <= threshold).
    return Epoch(readings, rng.randrange(1 << 250), sum(readings), EPOCH, NODE)


@pytest.fixture(scope="session")
def prover() -> Iterator[Prover]:
    with Prover() as p:
        yield p


@pytest.fixture(scope="session")
def bundle(prover: Prover, epoch_inputs: Epoch) -> ProofBundle:
    e = epoch_inputs
    return prover.prove(e.readings, e.salt, e.threshold, e.epoch, e.node)


def _unchecked_commitment(e: Epoch) -> int:
    """circuits/README.md's chain without oracle.zk's range checks, to feed the circuit out-of-range values."""
    words = [sum(r << (32 * i) for i, r in enumerate(e.readings[k:k + 7])) for k in range(0, 64, 7)]
    return poseidon([poseidon([e.salt, int(e.node, 16), e.epoch]), *words])


def _circuit_input(e: Epoch) -> dict:
    """The circuit's input JSON for an epoch, as snarkjs and the worker take it (no range checks here)."""
    return {"threshold_mj": str(e.threshold), "epoch": str(e.epoch), "node": str(int(e.node, 16)),
            "commitment": str(_unchecked_commitment(e)),
            "readings_mj": [str(r) for r in e.readings], "salt": str(e.salt)}


@pytest.fixture(scope="session")
def circuit_input():
    return _circuit_input


@pytest.fixture(scope="session")
def snarkjs_cli_proof(tmp_path_factory: pytest.TempPathFactory, epoch_inputs: Epoch) -> tuple[dict, list]:
    """A proof made by `snarkjs groth16 fullprove` (CLI) from the same inputs."""
    work: Path = tmp_path_factory.mktemp("snarkjs")
    (work / "input.json").write_text(json.dumps(_circuit_input(epoch_inputs)))
    subprocess.run([node_tool("snarkjs"), "groth16", "fullprove", "input.json", str(WASM_FILE), str(ZKEY_FILE),
                    "proof.json", "public.json"], cwd=work, check=True, capture_output=True, timeout=300)
    return json.loads((work / "proof.json").read_text()), json.loads((work / "public.json").read_text())
