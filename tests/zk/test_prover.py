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
    FieldOutOfRange,
    OverThreshold,
    ProofBundle,
    Prover,
    ProverFailed,
    ReadingOutOfRange,
    ThresholdOutOfRange,
    WrongReadingCount,
    check,
    commitment,
    verify,
)
from oracle.zk.artifacts import VERIFICATION_KEY_FILE
from oracle.zk.poseidon import FIELD_MODULUS



def test_bundle_public_signals_and_calldata(bundle: ProofBundle, epoch_inputs) -> None:
    e = epoch_inputs
    assert bundle.public_signals == [str(e.threshold), str(e.epoch), str(int(e.node, 16)),
                                     str(commitment(e.readings, e.salt, e.node, e.epoch))]
    data = bundle.calldata()
    p = bundle.proof
    assert data["proof"] == [int(p["pi_a"][0]), int(p["pi_a"][1]),
                             int(p["pi_b"][0][1]), int(p["pi_b"][0][0]),
                             int(p["pi_b"][1][1]), int(p["pi_b"][1][0]),
                             int(p["pi_c"][0]), int(p["pi_c"][1])]
    assert data["a"] == data["proof"][:2] and data["c"] == data["proof"][6:]
    assert data["b"] == [data["proof"][2:4], data["proof"][4:6]]
    assert data["inputs"] == [int(s) for s in bundle.public_signals]


def test_our_proof_passes_snarkjs_cli_verify(bundle: ProofBundle, tmp_path: Path) -> None:
    (tmp_path / "proof.json").write_text(json.dumps(bundle.proof))
    (tmp_path / "public.json").write_text(json.dumps(bundle.public_signals))
    proc = subprocess.run([node_tool("snarkjs"), "groth16", "verify", str(VERIFICATION_KEY_FILE),
                           "public.json", "proof.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_our_proof_passes_py_ecc(vk: dict, bundle: ProofBundle) -> None:
    assert verify(vk, bundle.proof, bundle.public_signals)


def test_snarkjs_cli_proof_passes_ours(vk: dict, snarkjs_cli_proof: tuple[dict, list],
                                       bundle: ProofBundle) -> None:
    proof, public = snarkjs_cli_proof
    assert public == bundle.public_signals
    assert proof != bundle.proof  # a fresh proof (Groth16 is randomised), not ours echoed back
    assert verify(vk, proof, public)


@pytest.mark.parametrize("index", range(4), ids=["threshold", "epoch", "node", "commitment"])
def test_each_public_signal_plus_one_is_rejected(vk: dict, bundle: ProofBundle, index: int) -> None:
    signals = list(bundle.public_signals)
    signals[index] = str(int(signals[index]) + 1)
    assert check(vk, bundle.proof, signals) == "pairing check failed"


def test_swapped_points_are_rejected(vk: dict, bundle: ProofBundle) -> None:
    swapped = copy.deepcopy(bundle.proof)
    swapped["pi_a"], swapped["pi_c"] = swapped["pi_c"], swapped["pi_a"]
    assert check(vk, swapped, bundle.public_signals) == "pairing check failed"
    # b's coordinates in EVM order ([c1, c0]) instead of snarkjs's: no longer a point of G2.
    flipped = copy.deepcopy(bundle.proof)
    flipped["pi_b"] = [list(reversed(row)) for row in flipped["pi_b"][:2]] + [flipped["pi_b"][2]]
    assert check(vk, flipped, bundle.public_signals) in (
        "pi_b is not on the BN254 G2 twist", "pi_b is not in the order-r subgroup of G2")


@pytest.mark.parametrize("key", ["pi_a", "pi_c"])
def test_off_curve_points_are_rejected(vk: dict, bundle: ProofBundle, key: str) -> None:
    bad = copy.deepcopy(bundle.proof)
    bad[key][1] = str(int(bad[key][1]) + 1)
    assert check(vk, bad, bundle.public_signals) == f"{key} is not on the BN254 G1 curve"


def test_off_curve_g2_point_is_rejected(vk: dict, bundle: ProofBundle) -> None:
    bad = copy.deepcopy(bundle.proof)
    bad["pi_b"][1][0] = str(int(bad["pi_b"][1][0]) + 1)
    assert check(vk, bad, bundle.public_signals) == "pi_b is not on the BN254 G2 twist"


@pytest.mark.parametrize("index", range(4))
def test_public_input_not_reduced_is_rejected(vk: dict, bundle: ProofBundle, index: int) -> None:
    # s + r is the same field element as s: accepting it would make proofs malleable.
    signals = list(bundle.public_signals)
    signals[index] = str(int(signals[index]) + FIELD_MODULUS)
    assert check(vk, bundle.proof, signals) == f"public signal {index} is not reduced (≥ the scalar field order r)"


def test_prover_refuses_bad_inputs(prover: Prover, epoch_inputs) -> None:
    e = epoch_inputs
    cases = [
        (OverThreshold, dict(threshold_mj=e.threshold - 1)),
        (ReadingOutOfRange, dict(readings_mj=[1 << 32] + e.readings[1:])),
        (ReadingOutOfRange, dict(readings_mj=[-1] + e.readings[1:])),
        (ReadingOutOfRange, dict(readings_mj=[1.5] + e.readings[1:])),
        (WrongReadingCount, dict(readings_mj=e.readings[:63])),
        (WrongReadingCount, dict(readings_mj=e.readings + [0])),
        (ThresholdOutOfRange, dict(threshold_mj=1 << 64)),
        (FieldOutOfRange, dict(epoch=1 << 64)),
        (FieldOutOfRange, dict(node="0x1234")),
        (FieldOutOfRange, dict(salt=FIELD_MODULUS)),
    ]
    base = dict(readings_mj=e.readings, salt=e.salt, threshold_mj=e.threshold, epoch=e.epoch, node=e.node)
    for error, change in cases:
        with pytest.raises(error) as info:
            prover.prove(**{**base, **change})
        assert isinstance(info.value, UsageError)  # the CLI turns it into one line and exit 2


def test_circuit_itself_refuses_what_the_prover_checks(prover: Prover, epoch_inputs, circuit_input) -> None:
    """Soundness does not rest on the Python checks: the witness generator (the circuit's constraints)
    rejects each violation when the checks are bypassed."""
    e = epoch_inputs
    over = circuit_input(e) | {"threshold_mj": str(e.threshold - 1)}
    # A reading of -1 (p - 1) would lower the sum if the range check did not catch it.
    wrapped = circuit_input(dataclasses.replace(e, readings=[FIELD_MODULUS - 1] + e.readings[1:]))
    big = circuit_input(dataclasses.replace(e, readings=[1 << 32] + e.readings[1:], threshold=(1 << 32) * 64))
    threshold_wrap = circuit_input(e) | {"threshold_mj": str(FIELD_MODULUS - 1)}
    wrong_commitment = circuit_input(e) | {"commitment": str(commitment(e.readings, e.salt, e.node, e.epoch + 1))}
    # A range check (Num2Bits) or the commitment constraint (in EnergyBudget) fails in each case.
    cases = [(over, "Num2Bits"), (wrapped, "Num2Bits"), (big, "Num2Bits"), (threshold_wrap, "Num2Bits"),
             (wrong_commitment, "EnergyBudget")]
    for raw, template in cases:
        with pytest.raises(ProverFailed, match=f"Assert Failed. Error in template {template}_"):
            prover._request(raw)
    # The worker recovers from failed witnesses.
    assert prover._request(circuit_input(e))["verified"] is True


def test_dead_worker_is_restarted(epoch_inputs, vk: dict) -> None:
    e = epoch_inputs
    with Prover() as prover:
        os.kill(prover._proc.pid, signal.SIGKILL)
        prover._proc.wait()
        bundle = prover.prove(e.readings[::-1], e.salt, e.threshold, e.epoch + 1, e.node)
    assert bundle.public_signals[1] == str(e.epoch + 1)
    assert bundle.commitment == commitment(e.readings[::-1], e.salt, e.node, e.epoch + 1)
