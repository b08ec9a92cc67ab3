"""End to end on anvil with the v2 GreenProof: two nodes hand real v2 proofs to a real relay process, which
settles them in ONE submitBatch transaction; kill -9 of the relay at its fault points loses and double-submits
nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.logs import DISCARD

from oracle.chain.anvil import Anvil, rpc_call
from oracle.node.relay_client import RelayUnavailable, hand_over

from tests.conftest import wait_for

from .conftest import BENEFICIARIES, DEMO_CLASS, DEMO_TIER, NODES, RELAYER, RelayProcess, node_address, prove

pytestmark = [pytest.mark.chain, pytest.mark.slow]
EPOCH_S = 5  # default_params.toml
SCENARIOS = ("settle", "relay_queued", "relay_signed", "relay_after_send")


@dataclass
class Chain:
    url: str
    deployment_file: Path
    deployment: Any
    w3: Web3
    epochs: dict[str, int]  # scenario → its epoch (both nodes)
    proofs: dict[tuple[str, int], Any]  # (node, epoch) → bundle

    @property
    def green(self) -> Any:
        return self.deployment.green_proof(self.w3)

    def now(self) -> int:
        return int(rpc_call(self.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, eff_prover) -> Iterator[Chain]:
    """One anvil and v2 stack for the module: both nodes admitted into the demo class, each scenario its own
    epoch (after the admissions), every proof made once, every epoch ended on chain."""
    from oracle.chain.deploy import admit_node, deploy_local

    folder = tmp_path_factory.mktemp("relay-chain")
    with Anvil(log_file=folder / "anvil.log") as node:
        deployment_file = folder / "deployment.json"
        deployment = deploy_local(node.url, out=deployment_file)
        for n, b in zip(NODES, BENEFICIARIES, strict=True):
            admit_node(deployment, node.url, node_address(n), node_address(b), DEMO_CLASS, "KR", f"node-{n}")
        w3 = Web3(Web3.HTTPProvider(node.url))
        first = w3.eth.get_block("latest")["timestamp"] // EPOCH_S + 1  # starts after both admissions
        epochs = {name: first + k for k, name in enumerate(SCENARIOS)}
        proofs = {(node_address(n), e): prove(eff_prover, node_address(n), e, salt=1000 * n + e)
                  for e in epochs.values() for n in NODES}
        last_end = (max(epochs.values()) + 1) * EPOCH_S
        while time.time() <= last_end:
            time.sleep(0.2)
        rpc_call(node.url, "evm_mine", [])  # a block after every epoch's end
        yield Chain(node.url, deployment_file, deployment, w3, epochs, proofs)


def start_relay(chain: Chain, tmp_path: Path, relays: list[RelayProcess], fault: str | None = None) -> RelayProcess:
    relay = RelayProcess(chain.url, chain.deployment_file, tmp_path / "relay-state", tmp_path / "relay.log")
    relays.append(relay)
    return relay.start(fault)


def hand_both(chain: Chain, relay: RelayProcess, epoch: int) -> list[dict]:
    return [hand_over(relay.url, chain.proofs[(node_address(n), epoch)], tier=DEMO_TIER, node=node_address(n))
            for n in NODES]


def settled(relay: RelayProcess) -> bool:
    return relay.status()["queue"]["settled"] == 2


def proved_logs(chain: Chain, epoch: int) -> list[Any]:
    return [log for n in NODES for log in chain.green.events.EpochProved.get_logs(
        argument_filters={"node": node_address(n), "epoch": epoch}, from_block=chain.deployment.block)]


def assert_settled_once(chain: Chain, epoch: int, relayer_nonce_before: int) -> str:
    """Both epochs accepted exactly once, in one batch transaction, the relayer's nonce advanced by exactly 1."""
    green = chain.green
    for n in NODES:
        assert green.functions.isAccepted(node_address(n), epoch).call()
    logs = proved_logs(chain, epoch)
    assert len(logs) == 2, f"each epoch accepted exactly once, got {len(logs)} EpochProved events"
    [tx_hash] = {log["transactionHash"] for log in logs}  # ONE transaction
    receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    batch_events = green.events.BatchSettled().process_receipt(receipt, errors=DISCARD)
    assert len(batch_events) == 1 and batch_events[0]["args"]["count"] == 2
    assert batch_events[0]["args"]["relayer"] == node_address(RELAYER)
    assert len(green.events.EpochProved().process_receipt(receipt, errors=DISCARD)) == 2
    assert receipt["from"] == node_address(RELAYER)  # the relayer paid the gas
    assert chain.w3.eth.get_transaction_count(node_address(RELAYER)) == relayer_nonce_before + 1
    return tx_hash.to_0x_hex()


def test_two_nodes_settle_in_one_batch_transaction(chain: Chain, tmp_path: Path, relays) -> None:
    epoch = chain.epochs["settle"]
    nonce = chain.w3.eth.get_transaction_count(node_address(RELAYER))
    accrued_before = {b: chain.green.functions.accrued(node_address(b)).call() for b in (*BENEFICIARIES, RELAYER)}
    relay = start_relay(chain, tmp_path, relays)
    answers = hand_both(chain, relay, epoch)
    assert [a["duplicate"] for a in answers] == [False, False]
    wait_for(lambda: settled(relay), 60, "the batch to settle", relay.proc)
    tx_hash = assert_settled_once(chain, epoch, nonce)
    # Credits go to each node's registered beneficiary, never to the relayer.
    for b in BENEFICIARIES:
        assert chain.green.functions.accrued(node_address(b)).call() > accrued_before[b]
    assert chain.green.functions.accrued(node_address(RELAYER)).call() == accrued_before[RELAYER]
    again = hand_over(relay.url, chain.proofs[(node_address(NODES[0]), epoch)], tier=DEMO_TIER,
                      node=node_address(NODES[0]))
    assert (again["status"], again["duplicate"], again["tx_hash"]) == ("settled", True, tx_hash)
    status = relay.status()
    assert status["batches"]["settled"] == 1 and status["relayer"] == node_address(RELAYER)


@pytest.mark.parametrize("fault", ["relay_queued", "relay_signed", "relay_after_send"])
def test_kill_9_loses_nothing_and_double_submits_nothing(chain: Chain, tmp_path: Path, relays, fault: str) -> None:
    epoch = chain.epochs[fault]
    nonce = chain.w3.eth.get_transaction_count(node_address(RELAYER))
    relay = start_relay(chain, tmp_path, relays, fault=fault)
    if fault == "relay_queued":
        # Killed right after the first hand-over is committed, before it answers.
        with pytest.raises(RelayUnavailable):
            hand_both(chain, relay, epoch)
    else:
        hand_both(chain, relay, epoch)  # the batch of 2 goes out at once; the relay dies signing or sending it
    assert relay.wait_killed() == -9
    restarted = start_relay(chain, tmp_path, relays)  # same state folder, no fault
    if fault == "relay_queued":
        answers = hand_both(chain, restarted, epoch)  # the node hands over again (it got no answer)
        assert answers[0]["duplicate"] is True  # the first was durably queued before the kill
    wait_for(lambda: settled(restarted), 60, "the batch to settle after the restart", restarted.proc)
    assert_settled_once(chain, epoch, nonce)
    status = restarted.status()
    assert status["batches"] == {"sending": 0, "settled": 1, "reverted": 0, "dropped": 0}
    assert status["queue"] == {"queued": 0, "batched": 0, "settled": 2, "failed": 0}
    log = (tmp_path / "relay.log").read_text()
    assert f"fault injection: SIGKILL at {fault}" in log
    if fault == "relay_signed":
        assert "rebroadcast tx" in log  # the stored bytes, same nonce: no second transaction was signed
    assert relayer_private_key() not in log


def relayer_private_key() -> str:
    from eth_account import Account

    from oracle.chain.keys import ANVIL_MNEMONIC

    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{RELAYER}").key.hex()
