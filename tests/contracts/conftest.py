"""Contract test fixtures: real Groth16 proofs made once per session, one anvil per test module through Ape,
and a freshly deployed stack per test on it (so tests never see each other's state)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest

from oracle.chain.anvil import Anvil, rpc_call
from oracle.chain.deploy import connect, deploy_stack, load_params
from oracle.chain.governance import decode_custom_error
from oracle.conventions import label_to_bytes32

PARAMS = load_params()
CLASS = "H200"
REGION = "KR"
BASELINE_MJ, TIERS_MJ = PARAMS.class_energy(CLASS)
# Test vector: 64 interval readings (mJ) summing to 1,034,592 mJ, between tier 0 (1,000,000) and tier 1
# (1,500,000) of the default H200 class at 5-second epochs: the node can prove tier 1, not tier 0.
READINGS = [15_000 + 37 * i for i in range(64)]
PROVEN_TIER = 1
# Anvil's documented dev accounts: 0 deploys and governs, 1 is the node, 2 its beneficiary, 3 an outsider.
GOVERNOR, NODE, BENEFICIARY, OUTSIDER = 0, 1, 2, 3


@dataclass(frozen=True)
class EpochProof:
    epoch: int
    tier: int
    commitment: int
    proof: list[int]  # uint256[8] for GreenProof.submit
    inputs: list[int]  # public inputs [threshold, epoch, node, commitment]

    def verifier_args(self, proof: list[int] | None = None, inputs: list[int] | None = None) -> tuple:
        p = self.proof if proof is None else proof
        return [p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], list(self.inputs if inputs is None else inputs)


@dataclass(frozen=True)
class Proofs:
    node: str
    first: EpochProof  # epoch E, tier 1
    second: EpochProof  # epoch E + 1, tier 1

    @property
    def submit_time(self) -> int:
        """A block time at which both proven epochs have ended and neither is stale."""
        return (self.second.epoch + 1) * PARAMS.epoch_length_s + 1


def _test_account(index: int) -> Any:
    from ape import accounts

    return accounts.test_accounts[index]


@pytest.fixture(scope="session")
def proofs() -> Proofs:
    """Two real proofs from circuits/energy_budget (oracle.zk), for epochs a day ahead of now."""
    from oracle.zk import Prover, random_salt

    node = _test_account(NODE).address
    epoch = (int(time.time()) + 86_400) // PARAMS.epoch_length_s
    made = []
    with Prover() as prover:
        for e in (epoch, epoch + 1):
            bundle = prover.prove(READINGS, random_salt(), TIERS_MJ[PROVEN_TIER], e, node)
            data = bundle.calldata()
            made.append(EpochProof(e, PROVEN_TIER, bundle.commitment, data["proof"], data["inputs"]))
    return Proofs(node, *made)


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
        latest = int(rpc_call(self.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        rpc_call(self.url, "evm_setNextBlockTimestamp", [max(timestamp, latest + 1)])
        rpc_call(self.url, "evm_mine", [])

    @cached_property
    def w3(self) -> Any:
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.url))

    @property
    def wgreen(self) -> Any:
        """GreenProof's web3.py functions, from the deployment file's ABI (as the oracle and the web use it)."""
        return self.deployment.green_proof(self.w3).functions

    @property
    def wcredit(self) -> Any:
        """EcoCredit's web3.py functions, from the deployment file's ABI."""
        return self.deployment.eco_credit(self.w3).functions

    def rejects(self, error: str, call: Any, sender: Any, **inputs: Any) -> None:
        """Asserts that the web3 contract call `call`, made by `sender` through eth_call, reverts with the custom
        error `error` (and these argument values). eth_call keeps revert checks fast: nothing is mined."""
        from web3.exceptions import ContractCustomError

        try:
            call.call({"from": sender.address})
        except ContractCustomError as exc:
            name, args = decode_custom_error(self.deployment.contracts[_contract_of(self, call)].abi,
                                             exc.data)
        else:
            raise AssertionError(f"expected a revert with {error}, the call succeeded")
        assert name == error, f"expected {error}, got {name}{args}"
        for key, value in inputs.items():
            assert args.get(key) == value, f"{error}.{key}: expected {value!r}, got {args.get(key)!r}"


@pytest.fixture(scope="module")
def module_stack(chain_url: str) -> Stack:
    """GreenProof + EcoCredit + Groth16Verifier (default params) deployed once per module, node admitted."""
    from oracle.chain.deploy import ape_project

    governor, node, beneficiary, outsider = (_test_account(i) for i in (GOVERNOR, NODE, BENEFICIARY, OUTSIDER))
    deployment = deploy_stack(governor, PARAMS, "ethereum:local")
    project = ape_project()
    green = project.GreenProof.at(deployment.address("GreenProof"))
    green.admitNode(node.address, beneficiary.address, label_to_bytes32(CLASS), label_to_bytes32(REGION), sender=governor)
    return Stack(chain_url, green, project.EcoCredit.at(deployment.address("EcoCredit")),
                 project.Groth16Verifier.at(deployment.address("Groth16Verifier")),
                 governor, node, beneficiary, outsider, deployment)


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

