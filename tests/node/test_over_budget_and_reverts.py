"""An over-budget epoch: no proof, an alert metric and a clear log line. And GreenProof's refusals reach the
node as the custom error's name (a dry run before signing), never as a stack trace."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.deployment import Deployment
from oracle.app.cli import main
from oracle.chain.governance import Governor
import dataclasses

from oracle.chain.deploy import load_params
from oracle.node import state as st
from oracle.node.chain import GreenProofClient, SubmitRejected
from oracle.node.config import load_config
from oracle.node.keys import dev_account
from oracle.node.service import build_loop, connect, read_chain
from oracle.node.state import NodeState

from oracle.conventions import efficiency_credits_wei as credits_wei, energy_bound_mj

from .conftest import BENEFICIARY, DEMO_CLASS, DEV_KEYS, NODE, write_config

pytestmark = [pytest.mark.chain]


def _set_tiers(url: str, deployment: Deployment, baseline: int, tiers: list[int]) -> None:
    """Governance sets the demo class's baseline and efficiency tiers (µJ per item)."""
    demo = dataclasses.replace(load_params().classes[DEMO_CLASS], baseline_uj_per_unit=baseline,
                               tiers_uj_per_unit=tuple(tiers))
    Governor.at(url, deployment).set_efficiency_class(demo.call_args())


def test_over_budget_epoch_is_alerted_and_not_proved_and_refusals_are_named(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _set_tiers(anvil.url, deployed, 3, [1, 2])  # 2 µJ per item: the replayed H200 serving is over budget
    config = load_config(node_config)
    client = connect(config)
    view = read_chain(client, config, None)
    assert view.tiers_uj_per_unit == [1, 2]
    state = NodeState(ecoai_home / "node.db")
    loop = build_loop(config, client, view, ("replay",), state)
    loop.stop_event = threading.Event()
    with caplog.at_level(logging.INFO, logger="ecoai"):
        logging.getLogger("ecoai").propagate = True
        result = loop.run(epochs=1)
    assert [r.status for r in result.epochs] == [st.OVER_BUDGET]
    record = result.epochs[0]
    assert record.proof is None and record.tx_hash is None and record.energy_mj and record.work_total
    registry = loop.metrics.metrics.registry  # the node's registry, served by its exporter
    assert registry.get_sample_value("ecoai_oracle_epoch_over_budget") == 1
    assert registry.get_sample_value("ecoai_epochs_total", {"outcome": "over_budget"}) == 1  # EcoAIEpochOverBudget
    assert registry.get_sample_value("ecoai_energy_bound_watts") == pytest.approx(
        energy_bound_mj(2, record.work_total) / 1000 / 5)  # the energy the work was allowed at the highest tier
    assert registry.get_sample_value("ecoai_oracle_epoch_work_units") == record.work_total
    assert registry.get_sample_value("ecoai_proofs_total", {"result": "accepted"}) == 0
    alerts = [r.getMessage() for r in caplog.records if "over budget" in r.getMessage()]
    assert alerts and f"epoch {record.epoch} over budget" in alerts[0] and "no proof submitted" in alerts[0]
    assert not deployed.green_proof(client.w3).functions.isAccepted(NODE.address, record.epoch).call()
    assert client.w3.eth.get_transaction_count(NODE.address) == 0  # nothing was sent

    # GreenProof's refusals reach the node as the custom error's name, from the dry run before signing.
    current = deployed.green_proof(client.w3).functions.currentEpoch().call()
    with pytest.raises(SubmitRejected, match="EpochNotEnded"):
        client.sign_submit(current + 10, 0, 100, 0x22, 1, [1] * 8)
    with pytest.raises(SubmitRejected, match="EpochBeforeAdmission"):  # v2: never before the admission
        client.sign_submit(current - 100, 0, 100, 0x22, 1, [1] * 8)
    with pytest.raises(SubmitRejected, match="InvalidProof|gas"):
        client.sign_submit(record.epoch, 0, 100, 0x22, 1, [1] * 8)
    with pytest.raises(SubmitRejected, match="WorkBelowMinimum"):
        client.sign_submit(record.epoch, 0, 0, 0x22, 1, [1] * 8)
    stranger = GreenProofClient(client.url, deployed, dev_account(5))
    with pytest.raises(SubmitRejected, match="NodeNotActive"):
        stranger.sign_submit(record.epoch, 0, 100, 0x22, 1, [1] * 8)
    assert client.w3.eth.get_transaction_count(NODE.address) == 0


def test_a_tier_change_between_proving_and_submitting_is_followed(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path
) -> None:
    """Governance changes the H200 tiers while a proof waits in the queue: the node follows the chain (same
    threshold at a new index: same proof; threshold gone: a new proof, same salt and commitment)."""
    config = load_config(node_config)
    client = connect(config)
    view = read_chain(client, config, None)
    state = NodeState(ecoai_home / "node.db")
    loop = build_loop(config, client, view, ("replay",), state)
    loop.defer_until = lambda rec: float("inf")  # hold the proof in the queue
    result = loop.run(epochs=1, drain_timeout_s=0)
    [record] = result.epochs
    assert record.status == st.PROVED and result.pending_left == 1
    baseline = view.baseline_uj_per_unit
    threshold, commitment = record.efficiency_uj_per_unit, record.commitment

    # A new lowest tier shifts every index by one; the tier value itself is unchanged.
    shifted = [1, *view.tiers_uj_per_unit]
    _set_tiers(anvil.url, deployed, baseline, shifted)
    loop.defer_until = None
    loop.drain()
    moved = state.get(NODE.address, record.epoch)
    assert moved is not None and moved.status == st.PROVED and moved.tier == record.tier + 1
    assert moved.proof == record.proof  # the proof still holds

    # Now the threshold disappears: the node proves again at the tier its energy now satisfies.
    assert moved.energy_mj is not None and threshold is not None
    _set_tiers(anvil.url, deployed, baseline, [1, threshold + 1, baseline - 1])
    loop.drain()
    reproving = state.get(NODE.address, record.epoch)
    assert reproving is not None and reproving.status == st.PROVING and reproving.efficiency_uj_per_unit == threshold + 1
    loop.prove_step(reproving)
    loop.drain()
    final = state.get(NODE.address, record.epoch)
    assert final is not None and final.status == st.ACCEPTED and final.tier == 1
    assert final.commitment == commitment  # same readings, same salt
    green = deployed.green_proof(client.w3)
    assert green.functions.isAccepted(NODE.address, record.epoch).call()
    eff = view.efficiency
    assert green.functions.accrued(BENEFICIARY.address).call() == credits_wei(
        baseline, threshold + 1, final.work_total, eff.max_units_per_second, view.epoch_seconds) > 0


def test_governor_admits_the_node_from_the_cli(
    tmp_path: Path, anvil, deployed: Deployment, ecoai_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "oracle.toml", anvil.url, ecoai_home / "deployments" / "local.json",
                          node={"class_id": DEMO_CLASS})
    args = ["oracle", "admit", "--config", str(config), "--beneficiary", BENEFICIARY.address]
    assert main([*args, "--governor", "dev:3"]) == 1  # not a governor
    assert "AccessControlUnauthorizedAccount" in capsys.readouterr().err
    assert main([*args, "--governor", "dev:0", "--beneficiary", "0x1234"]) == 2  # one clear line, exit 2
    assert "--beneficiary: not an address" in capsys.readouterr().err
    assert main([*args, "--governor", "dev:0", "--label", "lab-7 rack 3"]) == 0
    green = deployed.green_proof(Web3(Web3.HTTPProvider(anvil.url)))
    info = green.functions.nodeInfo(NODE.address).call()
    assert info[0] == BENEFICIARY.address and info[3] is True
    [admitted] = green.events.NodeAdmitted().get_logs(from_block=0, argument_filters={"node": NODE.address})
    assert admitted.args.label == "lab-7 rack 3"  # the public name the leaderboard shows
    assert DEV_KEYS[0] not in capsys.readouterr().out
