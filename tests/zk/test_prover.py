"""Real Groth16 proofs: ours pass snarkjs and py_ecc, snarkjs's pass ours, tampering is rejected,
and the prover and the circuit refuse what must not be proved."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from oracle.errors import UsageError
from oracle.paths import node_tool
from oracle.zk import (
    EFFICIENCY,
    EfficiencyProofBundle,
    FieldOutOfRange,
    MethodOutOfRange,
    OverEfficiencyTier,
    Prover,
    ProverFailed,
    ReadingOutOfRange,
    TierOutOfRange,
    WorkOutOfRange,
    WrongReadingCount,
    ZeroWork,
    check,
    efficiency_commitment,
    verify,
)
from oracle.zk.poseidon import FIELD_MODULUS

from .conftest import circuit_input

SIGNALS = ["efficiency_uj_per_unit", "work_units_total", "epoch", "node", "methods", "commitment"]


def test_bundle_public_signals_and_calldata(bundle: EfficiencyProofBundle, epoch_inputs) -> None:
    e = epoch_inputs
    assert bundle.public_signals == [str(e.tier), str(sum(e.work)), str(e.epoch), str(int(e.node, 16)),
                                     str(e.methods),
                                     str(efficiency_commitment(e.energy, e.work, e.salt, e.node, e.epoch))]
    data = bundle.calldata()
    p = bundle.proof
    assert data["proof"] == [int(p["pi_a"][0]), int(p["pi_a"][1]),
                             int(p["pi_b"][0][1]), int(p["pi_b"][0][0]),
                             int(p["pi_b"][1][1]), int(p["pi_b"][1][0]),
                             int(p["pi_c"][0]), int(p["pi_c"][1])]
    assert data["a"] == data["proof"][:2] and data["c"] == data["proof"][6:]
    assert data["b"] == [data["proof"][2:4], data["proof"][4:6]]
    assert data["inputs"] == [int(s) for s in bundle.public_signals] and len(data["inputs"]) == 6


def test_our_proof_passes_snarkjs_cli_verify(bundle: EfficiencyProofBundle, tmp_path: Path) -> None:
    (tmp_path / "proof.json").write_text(json.dumps(bundle.proof))
    (tmp_path / "public.json").write_text(json.dumps(bundle.public_signals))
    proc = subprocess.run([node_tool("snarkjs"), "groth16", "verify", str(EFFICIENCY.verification_key),
                           "public.json", "proof.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_our_proof_passes_py_ecc(vk: dict, bundle: EfficiencyProofBundle) -> None:
    assert verify(vk, bundle.proof, bundle.public_signals)


def test_snarkjs_cli_proof_passes_ours(vk: dict, snarkjs_cli_proof: tuple[dict, list],
                                       bundle: EfficiencyProofBundle) -> None:
    proof, public = snarkjs_cli_proof
    assert public == bundle.public_signals
    assert proof != bundle.proof  # a fresh proof (Groth16 is randomised), not ours echoed back
    assert verify(vk, proof, public)


def test_swapped_points_are_rejected(vk: dict, bundle: EfficiencyProofBundle) -> None:
    swapped = copy.deepcopy(bundle.proof)
    swapped["pi_a"], swapped["pi_c"] = swapped["pi_c"], swapped["pi_a"]
    assert check(vk, swapped, bundle.public_signals) == "pairing check failed"
    # b's coordinates in EVM order ([c1, c0]) instead of snarkjs's: no longer a point of G2.
    flipped = copy.deepcopy(bundle.proof)
    flipped["pi_b"] = [list(reversed(row)) for row in flipped["pi_b"][:2]] + [flipped["pi_b"][2]]
    assert check(vk, flipped, bundle.public_signals) in (
        "pi_b is not on the BN254 G2 twist", "pi_b is not in the order-r subgroup of G2")


@pytest.mark.parametrize("key", ["pi_a", "pi_c"])
def test_off_curve_points_are_rejected(vk: dict, bundle: EfficiencyProofBundle, key: str) -> None:
    bad = copy.deepcopy(bundle.proof)
    bad[key][1] = str(int(bad[key][1]) + 1)
    assert check(vk, bad, bundle.public_signals) == f"{key} is not on the BN254 G1 curve"


def test_off_curve_g2_point_is_rejected(vk: dict, bundle: EfficiencyProofBundle) -> None:
    bad = copy.deepcopy(bundle.proof)
    bad["pi_b"][1][0] = str(int(bad["pi_b"][1][0]) + 1)
    assert check(vk, bad, bundle.public_signals) == "pi_b is not on the BN254 G2 twist"


@pytest.mark.parametrize("index", range(6), ids=SIGNALS)
def test_public_input_not_reduced_is_rejected(vk: dict, bundle: EfficiencyProofBundle, index: int) -> None:
    # s + r is the same field element as s: accepting it would make proofs malleable.
    signals = list(bundle.public_signals)
    signals[index] = str(int(signals[index]) + FIELD_MODULUS)
    assert check(vk, bundle.proof, signals) == f"public signal {index} is not reduced (≥ the scalar field order r)"


def test_prover_refuses_bad_inputs(prover: Prover, epoch_inputs) -> None:
    e = epoch_inputs
    cases = [
        (OverEfficiencyTier, dict(efficiency_uj_per_unit=e.tier - 1)),
        (ZeroWork, dict(work_units=[0] * 64, energy_mj=[0] * 64)),
        (ReadingOutOfRange, dict(energy_mj=[1 << 32] + e.energy[1:])),
        (ReadingOutOfRange, dict(energy_mj=[-1] + e.energy[1:])),
        (ReadingOutOfRange, dict(energy_mj=[1.5] + e.energy[1:])),
        (WorkOutOfRange, dict(work_units=[-1] + e.work[1:])),
        (WrongReadingCount, dict(energy_mj=e.energy[:63])),
        (WrongReadingCount, dict(work_units=e.work + [0])),
        (TierOutOfRange, dict(efficiency_uj_per_unit=1 << 32)),
        (MethodOutOfRange, dict(methods=3)),
        (FieldOutOfRange, dict(epoch=1 << 64)),
        (FieldOutOfRange, dict(node="0x1234")),
        (FieldOutOfRange, dict(salt=FIELD_MODULUS)),
    ]
    base = dict(energy_mj=e.energy, work_units=e.work, salt=e.salt, efficiency_uj_per_unit=e.tier, epoch=e.epoch,
                node=e.node, methods=e.methods)
    for error, change in cases:
        with pytest.raises(error) as info:
            prover.prove_efficiency(**{**base, **change})
        assert isinstance(info.value, UsageError)  # the CLI turns it into one line and exit 2


def test_circuit_itself_refuses_what_the_prover_checks(prover: Prover, epoch_inputs) -> None:
    """Soundness does not rest on the Python checks: the witness generator (the circuit's constraints)
    rejects each violation when the checks are bypassed."""
    e = epoch_inputs
    over = circuit_input(e) | {"efficiency_uj_per_unit": str(e.tier - 1)}
    # An energy of -1 (p - 1) would lower the sum if the range check did not catch it.
    wrapped = circuit_input(dataclasses.replace(e, energy=[FIELD_MODULUS - 1] + e.energy[1:]))
    tier_wrap = circuit_input(e) | {"efficiency_uj_per_unit": str(FIELD_MODULUS - 1)}
    wrong_commitment = circuit_input(e) | {
        "commitment": str(efficiency_commitment(e.energy, e.work, e.salt, e.node, e.epoch + 1))}
    for raw in (over, wrapped, tier_wrap, wrong_commitment):
        with pytest.raises(ProverFailed, match="Assert Failed"):
            prover.prove_circuit_input(raw)
    # The worker recovers from failed witnesses.
    assert prover.prove_circuit_input(circuit_input(e))["verified"] is True


def test_dead_worker_is_restarted(epoch_inputs) -> None:
    e = epoch_inputs
    with Prover() as prover:
        os.kill(prover._proc.pid, signal.SIGKILL)
        prover._proc.wait()
        bundle = prover.prove_efficiency(e.energy[::-1], e.work[::-1], e.salt, e.tier, e.epoch + 1, e.node,
                                         e.methods)
    assert bundle.epoch == e.epoch + 1
    assert bundle.commitment == efficiency_commitment(e.energy[::-1], e.work[::-1], e.salt, e.node, e.epoch + 1)
