"""The statement (oracle.zk.efficiency, circuits/efficiency.circom): energy per unit of work ≤ a tier, proved,
checked and refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.conventions import SNARK_SCALAR_FIELD, proof_to_calldata
from oracle.paths import REPO_ROOT
from oracle.zk import Prover, ProverFailed, check, verify
from oracle.zk.artifacts import EFFICIENCY
from oracle.zk.efficiency import (
    EfficiencyProofBundle,
    Method,
    check_efficiency_inputs,
    efficiency_commitment,
    methods_code,
    split_methods,
)
from oracle.zk.errors import (
    MethodOutOfRange,
    OverEfficiencyTier,
    ReadingOutOfRange,
    TierOutOfRange,
    WorkOutOfRange,
    WrongReadingCount,
    ZeroWork,
)

from .conftest import NODE, EfficiencyEpoch, unchecked_efficiency_input

MAX_VALUE = (1 << 32) - 1


def test_proof_has_the_public_signals(bundle: EfficiencyProofBundle, epoch_inputs: EfficiencyEpoch) -> None:
    e = epoch_inputs
    assert bundle.public_signals == [
        str(e.tier), str(sum(e.work)), str(e.epoch), str(int(NODE, 16)), str(e.methods),
        str(efficiency_commitment(e.energy, e.work, e.salt, NODE, e.epoch))]
    assert bundle.methods == methods_code("measured", "estimated") == 0x10
    assert split_methods(bundle.methods) == (Method.MEASURED, Method.ESTIMATED)
    calldata = bundle.calldata()
    p = bundle.proof
    assert calldata["proof"] == proof_to_calldata(p)
    assert calldata["proof"][2:6] == [int(p["pi_b"][0][1]), int(p["pi_b"][0][0]),
                                      int(p["pi_b"][1][1]), int(p["pi_b"][1][0])]
    assert calldata["inputs"] == [int(s) for s in bundle.public_signals] and len(calldata["inputs"]) == 6


_SNARKJS_VERIFY_MANY = """
import { readFileSync } from "node:fs";
import * as snarkjs from "snarkjs";
const [vkPath, casesPath] = process.argv.slice(1);
const vk = JSON.parse(readFileSync(vkPath, "utf8"));
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
console.log = () => {};
const out = [];
for (const c of cases) out.push(await snarkjs.groth16.verify(vk, c.public, c.proof));
process.stdout.write(JSON.stringify(out));
const curve = globalThis.curve_bn128; if (curve) await curve.terminate();
process.exit(0);
"""


def test_each_public_signal_plus_one_is_rejected_by_snarkjs_and_oracle_zk(
        bundle: EfficiencyProofBundle, vk: dict, tmp_path: Path) -> None:
    cases = [{"proof": bundle.proof, "public": bundle.public_signals}]
    for i in range(6):
        signals = list(bundle.public_signals)
        signals[i] = str((int(signals[i]) + 1) % SNARK_SCALAR_FIELD)
        cases.append({"proof": bundle.proof, "public": signals})
        assert check(vk, bundle.proof, signals) == "pairing check failed", i
    assert verify(vk, bundle.proof, bundle.public_signals)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    result = subprocess.run(["node", "--input-type=module", "-e", _SNARKJS_VERIFY_MANY,
                             str(EFFICIENCY.verification_key), str(tmp_path / "cases.json")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout) == [True] + [False] * 6, result.stderr


@st.composite
def boundary_epochs(draw: st.DrawFn) -> tuple[list[int], list[int], int]:
    """(energy, work, tier) with 1000 · Σe == tier · W exactly, W > 0 and every value in range."""
    work = draw(st.lists(st.integers(0, MAX_VALUE), min_size=64, max_size=64).filter(lambda w: sum(w) > 0))
    total_work = sum(work)
    tier = draw(st.integers(1, MAX_VALUE))
    tier = min(tier, 1000 * 64 * MAX_VALUE // total_work)  # Σe must fit 64 values below 2^32
    step = 1000 // math.gcd(total_work, 1000)  # tier · W divisible by 1000
    tier -= tier % step
    if tier == 0:
        tier = step
    total_energy = tier * total_work // 1000
    if total_energy > 64 * MAX_VALUE:
        tier -= step
        total_energy = tier * total_work // 1000
    rnd = draw(st.randoms(use_true_random=False))
    energy, left = [], total_energy
    for i in range(64):
        room = MAX_VALUE * (63 - i)  # what the remaining intervals can still hold
        low = max(0, left - room)
        value = rnd.randint(low, min(left, MAX_VALUE)) if i < 63 else left
        energy.append(value)
        left -= value
    assert 1000 * sum(energy) == tier * total_work and max(energy) <= MAX_VALUE
    return energy, work, tier


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=boundary_epochs(), methods=st.sampled_from([0x00, 0x01, 0x12, 0x22]))
def test_boundary_exactly_equal_proves_and_one_more_mj_is_refused(
        prover: Prover, vk: dict, case: tuple[list[int], list[int], int], methods: int) -> None:
    energy, work, tier = case
    bundle = prover.prove_efficiency(energy, work, 7, tier, 5, NODE, methods)
    assert verify(vk, bundle.proof, bundle.public_signals)
    assert bundle.work_units_total == sum(work) and bundle.methods == methods

    j = next(i for i, v in enumerate(energy) if v < MAX_VALUE)
    over = list(energy)
    over[j] += 1
    with pytest.raises(OverEfficiencyTier, match="over the tier"):
        prover.prove_efficiency(over, work, 7, tier, 5, NODE, methods)
    with pytest.raises(OverEfficiencyTier):
        check_efficiency_inputs(energy, work, tier - 1, 5, NODE, methods)
    # The circuit itself refuses the witness the check refuses (no check on this path).
    with pytest.raises(ProverFailed):
        prover.prove_circuit_input(unchecked_efficiency_input(over, work, 7, tier, 5, NODE, methods))


def test_zero_work_is_refused_and_the_circuit_needs_zero_energy_for_it(prover: Prover) -> None:
    energy, work = [0] * 64, [0] * 64
    with pytest.raises(ZeroWork, match="total 0"):
        check_efficiency_inputs(energy, work, 1000, 5, NODE)
    with pytest.raises(ZeroWork):
        prover.prove_efficiency([1] * 64, work, 1, 1000, 5, NODE)
    # The circuit: W = 0 with any energy has slack = -1000·Σe, which wraps: no witness.
    with pytest.raises(ProverFailed):
        prover.prove_circuit_input(unchecked_efficiency_input([1] + [0] * 63, work, 1, 1000, 5, NODE, 0))


@pytest.mark.parametrize("change, error", [
    ({"energy": [1 << 32] + [0] * 63}, ReadingOutOfRange),
    ({"energy": [-1] + [0] * 63}, ReadingOutOfRange),
    ({"energy": [0] * 63}, WrongReadingCount),
    ({"work": [1 << 32] + [1] * 63}, WorkOutOfRange),
    ({"work": [1.5] + [1] * 63}, WorkOutOfRange),
    ({"work": [1] * 65}, WrongReadingCount),
    ({"tier": 1 << 32}, TierOutOfRange),
    ({"tier": -1}, TierOutOfRange),
    ({"methods": 3}, MethodOutOfRange),
    ({"methods": 0x30}, MethodOutOfRange),
    ({"methods": 256}, MethodOutOfRange),
])
def test_out_of_range_inputs_are_refused_with_their_error(change: dict, error: type[Exception]) -> None:
    args = {"energy": [0] * 64, "work": [1] * 64, "tier": 10, "methods": 0, **change}
    with pytest.raises(error):
        check_efficiency_inputs(args["energy"], args["work"], args["tier"], 5, NODE, args["methods"])


@pytest.mark.parametrize("case", ["tier_over_2_32", "methods_over_2_8", "total_not_the_sum", "energy_over_2_32"])
def test_the_circuit_refuses_what_the_checks_refuse(prover: Prover, case: str) -> None:
    energy, work, tier, methods, total = [1] * 64, [1] * 64, 1000, 0, None
    if case == "tier_over_2_32":
        tier = 1 << 32
    elif case == "methods_over_2_8":
        methods = 256
    elif case == "total_not_the_sum":
        total = 65  # Σ work = 64, and 1000·64 ≤ 1000·65 would hold: only the sum constraint refuses it
    else:
        energy = [0] * 63 + [1 << 32]
        tier = (1 << 32) - 1
        work = [(1 << 32) - 1] * 64
    with pytest.raises(ProverFailed):
        prover.prove_circuit_input(unchecked_efficiency_input(energy, work, 3, tier, 5, NODE, methods, total))


def test_methods_codes() -> None:
    assert methods_code(Method.ESTIMATED, Method.REPLAYED) == 0x21
    assert methods_code("replayed", 0) == 0x02
    with pytest.raises(MethodOutOfRange):
        methods_code("guessed", "measured")


def test_generated_verifier_is_the_template_output() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_verifier.py", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    source = (REPO_ROOT / "contracts" / "Groth16Verifier.sol").read_text()  # the deployed verifier
    assert "contract Groth16Verifier {" in source and "uint256[6] calldata input" in source
    assert "function verifyBatch(uint256[8][] calldata proofs, uint256[6][] calldata inputs)" in source
    assert "staticcall(gas(), 0x08" in source and "_GAS" not in source
