"""An over-budget epoch: no proof, an alert metric and a clear log line. And GreenProof's refusals reach the
node as the custom error's name (a dry run before signing), never as a stack trace."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.deployment import Deployment
from oracle.node import state as st
from oracle.node.chain import GreenProofClient, SubmitRejected
from oracle.node.config import load_config
from oracle.node.keys import dev_account
from oracle.node.service import build_loop, connect, read_chain
from oracle.node.state import NodeState

from .conftest import NODE

pytestmark = [pytest.mark.chain]


def _set_tiers(url: str, deployment: Deployment, baseline_mj: int, tiers_mj: list[int]) -> None:
    w3 = Web3(Web3.HTTPProvider(url))
    governor = dev_account(0)
    call = deployment.green_proof(w3).functions.setHardwareClass(b"H200".ljust(32, b"\0"), baseline_mj, tiers_mj)
    tx = call.build_transaction({"from": governor.address, "nonce": w3.eth.get_transaction_count(governor.address)})
    assert (
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(governor.sign_transaction(tx)))["status"] == 1
    )


def test_over_budget_epoch_is_alerted_and_not_proved_and_refusals_are_named(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _set_tiers(anvil.url, deployed, 3, [1, 2])  # 2 mJ per 5-s epoch: any real reading is over budget
    config = load_config(node_config)
    client = connect(config)
    view = read_chain(client, config, None)
    assert view.tiers_mj == [1, 2]
    state = NodeState(ecoai_home / "node.db")
    loop = build_loop(config, client, view, ("replay", "cpu"), state)
    loop.stop_event = threading.Event()
    with caplog.at_level(logging.INFO, logger="ecoai"):
        logging.getLogger("ecoai").propagate = True
        result = loop.run(epochs=1)
    assert [r.status for r in result.epochs] == [st.OVER_BUDGET]
    record = result.epochs[0]
    assert record.proof is None and record.tx_hash is None and record.energy_mj and record.energy_mj > 2
    registry = loop.metrics.metrics.registry  # the node's registry, served by its exporter
    assert registry.get_sample_value("ecoai_oracle_epoch_over_budget") == 1
    assert registry.get_sample_value("ecoai_epochs_total", {"outcome": "over_budget"}) == 1  # EcoAIEpochOverBudget
    assert registry.get_sample_value("ecoai_energy_budget_watts") == pytest.approx(2 / 1000 / 5)
    assert registry.get_sample_value("ecoai_proofs_total", {"result": "accepted"}) == 0
    alerts = [r.getMessage() for r in caplog.records if "over budget" in r.getMessage()]
    assert alerts and f"epoch {record.epoch} over budget" in alerts[0] and "no proof submitted" in alerts[0]
    assert not deployed.green_proof(client.w3).functions.isAccepted(NODE.address, record.epoch).call()
    assert client.w3.eth.get_transaction_count(NODE.address) == 0  # nothing was sent

    # GreenProof's refusals reach the node as the custom error's name, from the dry run before signing.
    current = deployed.green_proof(client.w3).functions.currentEpoch().call()
    with pytest.raises(SubmitRejected, match="EpochNotEnded"):
        client.sign_submit(current + 10, 0, 1, [1] * 8)
    with pytest.raises(SubmitRejected, match="InvalidProof|gas"):
        client.sign_submit(current - 1, 0, 1, [1] * 8)
    stranger = GreenProofClient(client.url, deployed, dev_account(5))
    with pytest.raises(SubmitRejected, match="NodeNotActive"):
        stranger.sign_submit(current - 1, 0, 1, [1] * 8)
    assert client.w3.eth.get_transaction_count(NODE.address) == 0
