"""Contract test fixtures: real v2 (efficiency circuit) Groth16 proofs made once per session, one anvil per test
module through Ape, and the stack deployed by oracle.chain.deploy.deploy_stack once per module, each test inside
an anvil snapshot (so tests never see each other's state).

The tests use their own efficiency classes (TEST_CLASS, MEASURED_CLASS) with round numbers, set by the governor
next to the default ones, so the expected credits are easy to check by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pytest

from oracle.chain.anvil import Anvil, rpc_call
from oracle.chain.deploy import connect, deploy_stack, load_params
from oracle.chain.governance import decode_custom_error
from oracle.conventions import Submission, label_to_bytes32

PARAMS = load_params()
EPOCH_S = PARAMS.epoch_length_s
REGION = "KR"
GRAMS_PER_KWH = PARAMS.regions[REGION]

# Test classes: β = 2000 µJ per token, tiers 400 / 600 / 900 / 1400, at most 10,000 tokens/s (50,000 per 5-s epoch).
TEST_CLASS = "TEST/llm/token"
MEASURED_CLASS = "TEST/llm-measured/token"
BASELINE = 2000
TIERS = [400, 600, 900, 1400]
MIN_WORK = 1
MAX_UNITS_PER_SECOND = 10_000

# Test vector: 64 intervals of (300 + i) mJ and 500 tokens: Σe = 21,216 mJ, W = 32,000 → 663 µJ per token,
# between tier 1 (600) and tier 2 (900): the node proves tier 2, not tier 1.
ENERGY = [300 + i for i in range(64)]
WORK = [500] * 64
PROVEN_TIER = 2
# Over the cap: 1,000 tokens per interval (W = 64,000 > 50,000) → 331.5 µJ per token, tier 0.
WORK_OVER_CAP = [1000] * 64

# Anvil's documented dev accounts: 0 deploys and governs, 1 is the node, 2 its beneficiary, 3 an outsider (relayer);
# 4..6 are more nodes (batch), 7 and 8 their beneficiaries.
GOVERNOR, NODE, BENEFICIARY, OUTSIDER = 0, 1, 2, 3
FLEET = (4, 5, 6)
FLEET_BENEFICIARIES = (7, 8, 8)


@dataclass(frozen=True)
class EpochProof(Submission):
    inputs: list[int]  # [τ, W, epoch, node, methods, commitment]
    snarkjs: dict = field(hash=False, compare=False)  # proof.json, for the Python verifier

    def submit_args(self, **changes: Any) -> list[Any]:
        """GreenProof.submit's arguments (epoch, tier, work, methods, commitment, proof), with `changes`."""
        return Submission.submit_args(replace(self, **changes))

    def item(self, **changes: Any) -> tuple:
        """A GreenProof.Submission tuple (node, epoch, tier, work, methods, commitment, proof), with `changes`."""
        return replace(self, **changes).struct()

    def verifier_args(self, proof: list[int] | None = None, inputs: list[int] | None = None) -> tuple:
        p = self.proof if proof is None else proof
        return [p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], list(self.inputs if inputs is None else inputs)


def _test_account(index: int) -> Any:
    from ape import accounts

    return accounts.test_accounts[index]


def base_epoch() -> int:
    """An epoch a day ahead of now (under the initial 5-s schedule), so that admission at deploy time precedes it."""
    return (int(time.time()) + 86_400) // EPOCH_S


def make_proof(prover: Any, node: str, epoch: int, tier: int = PROVEN_TIER, energy: list[int] = ENERGY,
               work: list[int] = WORK, methods: int = 0) -> EpochProof:
    from oracle.zk import random_salt

    bundle = prover.prove_efficiency(energy, work, random_salt(), TIERS[tier], epoch, node, methods)
    data = bundle.calldata()
    return EpochProof(node, epoch, tier, bundle.work_units_total, methods, bundle.commitment, data["proof"],
                      data["inputs"], bundle.proof)


def raw_proof(prover: Any, node: str, epoch: int, tier: int, energy: list[int], work: list[int],
              methods: int = 0) -> EpochProof:
    """A proof straight from the circuit, without the prover's input checks (e.g. W = 0)."""
    from oracle.conventions import proof_to_calldata
    from oracle.zk import random_salt
    from oracle.zk.efficiency import efficiency_commitment
    from oracle.zk import node_to_int

    salt = random_salt()
    commitment = efficiency_commitment(energy, work, salt, node, epoch)
    circuit_input = {
        "efficiency_uj_per_unit": str(TIERS[tier]), "work_units_total": str(sum(work)), "epoch": str(epoch),
        "node": str(node_to_int(node)), "methods": str(methods), "commitment": str(commitment),
        "energy_mj": [str(v) for v in energy], "work_units": [str(v) for v in work], "salt": str(salt),
    }
    reply = prover.prove_circuit_input(circuit_input)
    assert reply["verified"]
    inputs = [int(s) for s in reply["publicSignals"]]
    return EpochProof(node, epoch, tier, sum(work), methods, commitment, proof_to_calldata(reply["proof"]), inputs,
                      reply["proof"])


@dataclass(frozen=True)
class Proofs:
    node: str
    epoch: int  # E
    first: EpochProof  # node, E, tier 2, W = 32,000, measured
    second: EpochProof  # node, E + 1
    replayed: EpochProof  # node, E + 2, methods = replayed | replayed << 4
    zero_work: EpochProof  # node, E + 3, Σe = 0 and W = 0 (straight from the circuit)
    over_cap: EpochProof  # node, E + 4, W = 64,000 > cap, tier 0
    fleet: list[EpochProof]  # FLEET nodes, epochs E and E + 1 each (6 proofs)
    late: EpochProof  # node, epoch E // 2 (the number a naive re-numbering would reuse)

    @property
    def submit_time(self) -> int:
        """A block time at which epochs E .. E + 4 have ended and none is stale."""
        return (self.epoch + 5) * EPOCH_S + 1


@pytest.fixture(scope="session")
def proofs() -> Proofs:
    """Real v2 proofs from circuits/efficiency (oracle.zk), made once per session (~1 s each)."""
    from oracle.zk import Prover
    from oracle.zk.efficiency import Method, methods_code

    node = _test_account(NODE).address
    e = base_epoch()
    replayed = methods_code(Method.REPLAYED, Method.REPLAYED)
    with Prover() as prover:
        fleet = [make_proof(prover, _test_account(i).address, e + k) for i in FLEET for k in (0, 1)]
        return Proofs(
            node, e,
            make_proof(prover, node, e), make_proof(prover, node, e + 1),
            make_proof(prover, node, e + 2, methods=replayed),
            raw_proof(prover, node, e + 3, 0, [0] * 64, [0] * 64),
            make_proof(prover, node, e + 4, tier=0, work=WORK_OVER_CAP),
            fleet,
            make_proof(prover, node, e // 2),
        )


@pytest.fixture(scope="module")
def chain_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One anvil per test module, with Ape connected to it for the module."""
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with Anvil(log_file=log) as node, connect(node.url):
        yield node.url


@dataclass
class Stack:
    url: str
    green: Any
    credit: Any
    verifier: Any
    governor: Any
    node: Any
    beneficiary: Any
    outsider: Any
    deployment: Any

    def mine_at(self, timestamp: int) -> None:
        """Mines an empty block at `timestamp` (or just after the latest block, as anvil keeps block times
        increasing), so that calls see that time and later transactions come after it."""
        rpc_call(self.url, "evm_setNextBlockTimestamp", [max(timestamp, self.now() + 1)])
        rpc_call(self.url, "evm_mine", [])

    def now(self) -> int:
        return int(rpc_call(self.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def account(self, index: int) -> Any:
        return _test_account(index)

    @cached_property
    def w3(self) -> Any:
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.url))

    @property
    def wgreen(self) -> Any:
        """GreenProof's web3.py functions, from the deployment file's ABI (as the oracle and the web use it)."""
        return self.deployment.green_proof(self.w3).functions

    @property
    def wverifier(self) -> Any:
        return self.deployment.verifier(self.w3).functions

    def set_class(self, class_id: str = TEST_CLASS, baseline: int = BASELINE, tiers: list[int] = TIERS,
                  min_work: int = MIN_WORK, max_ups: int = MAX_UNITS_PER_SECOND, require_measured: bool = False):
        return self.green.setEfficiencyClass(
            label_to_bytes32(class_id), label_to_bytes32("H200"), label_to_bytes32("llm-8b"), label_to_bytes32("token"),
            "test class", baseline, tiers, min_work, max_ups, require_measured, sender=self.governor)

    def admit(self, node: str, beneficiary: str, class_id: str = TEST_CLASS, label: str = "node"):
        return self.green.admitNode(node, beneficiary, label_to_bytes32(class_id), label_to_bytes32(REGION), label,
                                    sender=self.governor)

    def rejects(self, error: str, call: Any, sender: Any, **inputs: Any) -> dict[str, Any]:
        """Asserts that the web3 contract call `call`, made by `sender` through eth_call, reverts with the custom
        error `error` (and these argument values). eth_call keeps revert checks fast: nothing is mined."""
        from web3.exceptions import ContractCustomError

        try:
            call.call({"from": sender.address if hasattr(sender, "address") else sender})
        except ContractCustomError as exc:
            name, args = decode_custom_error(self.deployment.contracts[_contract_of(self, call)].abi, exc.data)
        else:
            raise AssertionError(f"expected a revert with {error}, the call succeeded")
        assert name == error, f"expected {error}, got {name}{args}"
        for key, value in inputs.items():
            assert args.get(key) == value, f"{error}.{key}: expected {value!r}, got {args.get(key)!r}"
        return args


@pytest.fixture(scope="module")
def module_stack(chain_url: str) -> Stack:
    """The default-params stack (deploy_stack) once per module, plus the test classes; the node and the fleet
    admitted at deploy time (before every proven epoch)."""
    from oracle.chain.deploy import ape_project

    governor, node, beneficiary, outsider = (_test_account(i) for i in (GOVERNOR, NODE, BENEFICIARY, OUTSIDER))
    deployment = deploy_stack(governor, PARAMS, "ethereum:local")
    project = ape_project()
    green = project.GreenProof.at(deployment.address("GreenProof"))
    s = Stack(chain_url, green, project.EcoCredit.at(deployment.address("EcoCredit")),
              project.Groth16Verifier.at(deployment.address("Groth16Verifier")),
              governor, node, beneficiary, outsider, deployment)
    s.set_class()
    s.set_class(MEASURED_CLASS, require_measured=True)
    s.admit(node.address, beneficiary.address)
    for n, b in zip(FLEET, FLEET_BENEFICIARIES, strict=True):
        s.admit(_test_account(n).address, _test_account(b).address, label=f"fleet-{n}")
    return s


@pytest.fixture
def stack(module_stack: Stack) -> Iterator[Stack]:
    """The module's stack as freshly deployed: each test runs inside an anvil snapshot, reverted afterwards
    (state and block time both)."""
    snapshot = rpc_call(module_stack.url, "evm_snapshot", [])
    yield module_stack
    assert rpc_call(module_stack.url, "evm_revert", [snapshot]) is True


def _contract_of(stack: Stack, call: Any) -> str:
    address = call.address
    return next(name for name, ref in stack.deployment.contracts.items() if ref.address == address)
