"""Issue 14, node side: fee caps against a lying RPC (3), N confirmations and reorgs (4), the node's own
measurement store (8). Real anvil, real contracts; the lying endpoint is a labelled loopback proxy."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.anvil import rpc_call
from oracle.chain.deployment import Deployment
from oracle.conventions import N_INTERVALS, epoch_bounds, epoch_of
from oracle.measure.epoch import EpochEnergy, aggregate
from oracle.measure.reading import Gap, Reading
from oracle.measure.store import Store
from oracle.metrics import Metrics
from oracle.node import state as st
from oracle.node.config import load_config
from oracle.node.loop import OracleLoop
from oracle.node.metrics import NodeMetrics
from oracle.node.proving import ZkEpochProver
from oracle.node.service import build_loop, connect, read_chain
from oracle.node.state import NodeState
from oracle.paths import REPO_ROOT
from oracle.zk import random_salt

from tests.conftest import wait_for
from tests.faults.faulty_rpc import FaultyRpc

from .conftest import NODE, proved_events, write_config

pytestmark = [pytest.mark.chain]


def _proved_epoch(state: NodeState, epoch: int, L: int, tau: int, proof: list[int] | None = None) -> None:
    """Put one epoch in the queue as `proved` (small real-looking energy and work, tier 0)."""
    t0, t1 = epoch_bounds(epoch, L)
    energy = EpochEnergy(epoch, t0, t1, tuple([1000] * N_INTERVALS), 1000 * N_INTERVALS, {"replay/x": 64000},
                         {"replayed": 64000}, ("replay:h200",), (), tuple([10] * N_INTERVALS), 10 * N_INTERVALS,
                         "item", "replayed", ("replay:h200",))
    state.open_epoch(NODE.address, epoch, L)
    state.record_closed(NODE.address, epoch, energy, st.PROVING, [], [], 0, tau, random_salt(), "test")
    if proof is not None:
        state.record_proof(NODE.address, epoch, 1, proof, {})


def _loop(state: NodeState, client, view, confirmations: int = 1, metrics=None) -> OracleLoop:
    return OracleLoop(state=state, client=client, meter=None, prover_factory=ZkEpochProver,  # type: ignore[arg-type]
                      efficiency=view.efficiency, schedule=view.schedule,
                      random_salt=random_salt, confirmations=confirmations, metrics=metrics)


def test_fees_above_the_caps_from_a_lying_rpc_are_never_signed(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FaultyRpc(anvil.url) as lying:
        # The local defaults: max fee 50 gwei, max priority fee 5 gwei, 1.5 M gas per submit.
        config = load_config(write_config(tmp_path / "lying.toml", lying.url, ecoai_home / "deployments" / "local.json"))
        client = connect(config)
        view = read_chain(client, config, None)
        state = NodeState(ecoai_home / "node.db")
        metrics = NodeMetrics(Metrics(), view.region, view.carbon_g_per_kwh, max(view.tiers_uj_per_unit), view.epoch_seconds)
        loop = _loop(state, client, view, metrics=metrics)
        epoch = epoch_of(time.time(), view.epoch_seconds) - 2
        _proved_epoch(state, epoch, view.epoch_seconds, view.tiers_uj_per_unit[0], proof=[1] * 8)
        logging.getLogger("ecoai").propagate = True

        # Absurd fees (the 3,760 ETH case): 20,000 gwei tip and gas price; the dry run "passes" (a lie too).
        absurd = hex(20_000 * 10**9)
        lying.lies.update({"eth_gasPrice": absurd, "eth_maxPriorityFeePerGas": absurd,
                           "eth_feeHistory": lambda r: {**r, "reward": [[absurd] for _ in r.get("reward", [[0]])]},
                           "eth_estimateGas": hex(300_000)})
        with caplog.at_level(logging.INFO, logger="ecoai"):
            loop._drain_with_backoff()
        # Then an absurd gas limit with honest fees.
        lying.lies.clear()
        lying.lies["eth_estimateGas"] = hex(50_000_000)
        loop._next_try = 0.0
        with caplog.at_level(logging.INFO, logger="ecoai"):
            loop._drain_with_backoff()

        assert "eth_sendRawTransaction" not in lying.calls  # nothing was ever broadcast
        assert Web3(Web3.HTTPProvider(anvil.url)).eth.get_transaction_count(NODE.address, "pending") == 0
        rec = state.get(NODE.address, epoch)
        assert rec is not None and rec.status == st.PROVED and rec.raw_tx is None  # still queued, unsigned
        alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
        assert any("max_priority_fee_gwei" in a for a in alerts), alerts
        assert any("max_gas_per_submit" in a for a in alerts), alerts
        registry = metrics.metrics.registry
        assert registry.get_sample_value("ecoai_oracle_fee_cap_exceeded") == 1
        assert registry.get_sample_value("ecoai_oracle_fee_cap_refusals_total") == 2


def test_acceptance_waits_for_confirmations_and_a_reorg_sends_the_epoch_back(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(node_config)
    client = connect(config)
    view = read_chain(client, config, None)
    state = NodeState(ecoai_home / "node.db")
    loop = _loop(state, client, view, confirmations=3)
    # v2: an epoch that started after the node's admission (GreenProof never credits one before it), ended.
    epoch = view.schedule.epoch_at(view.admitted_at) + 1
    time.sleep(max(0.0, view.schedule.bounds(epoch)[1] + 2 - time.time()))
    rpc_call(anvil.url, "evm_mine")  # the chain's clock past the epoch's end too
    _proved_epoch(state, epoch, view.epoch_seconds, view.tiers_uj_per_unit[0])
    try:
        loop.prove_step(state.get(NODE.address, epoch))  # a real proof
    finally:
        loop._prover.close()  # type: ignore[union-attr]
    assert state.get(NODE.address, epoch).status == st.PROVED
    snapshot = rpc_call(anvil.url, "evm_snapshot")

    loop.drain()  # signs, broadcasts; anvil mines it at once: 1 confirmation of 3
    assert state.get(NODE.address, epoch).status == st.SENDING
    loop.drain()  # GreenProof says accepted, but one block is not final yet
    assert state.get(NODE.address, epoch).status == st.SENDING
    rpc_call(anvil.url, "evm_mine")
    rpc_call(anvil.url, "evm_mine")
    loop.drain()
    accepted = state.get(NODE.address, epoch)
    assert accepted.status == st.ACCEPTED and accepted.tx_hash

    # A reorg: the chain goes back to before the submit and grows a longer branch without it.
    assert rpc_call(anvil.url, "evm_revert", [snapshot]) is True
    for _ in range(4):
        rpc_call(anvil.url, "evm_mine")
    assert not client.is_accepted(epoch)
    with caplog.at_level(logging.INFO, logger="ecoai"):
        logging.getLogger("ecoai").propagate = True
        loop.recheck_accepted()
    back = state.get(NODE.address, epoch)
    assert back.status == st.SENDING and back.tx_hash == accepted.tx_hash  # same signed tx, queued again
    assert any("reorganisation" in r.getMessage() for r in caplog.records)

    for _ in range(6):  # rebroadcast the stored bytes, then wait for 3 confirmations again
        loop.drain()
        if state.get(NODE.address, epoch).status == st.ACCEPTED:
            break
        rpc_call(anvil.url, "evm_mine")
    final = state.get(NODE.address, epoch)
    assert final.status == st.ACCEPTED and final.tx_hash == accepted.tx_hash
    assert client.is_accepted(epoch)
    events = proved_events(client.w3, deployed, NODE.address)
    assert [e["args"]["epoch"] for e in events] == [epoch]  # accepted exactly once on the canonical chain


def test_a_second_writer_to_the_measure_store_cannot_change_the_proved_energy(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path
) -> None:
    config = load_config(node_config)
    client = connect(config)
    view = read_chain(client, config, None)
    state = NodeState(ecoai_home / "node.db")
    loop = build_loop(config, client, view, ("replay",), state)
    taken: list[Reading | Gap] = []  # exactly what the node's own counter reader read
    loop.meter.reader.sinks.append(lambda items, now: taken.extend(items))  # type: ignore[attr-defined]
    loop.stop_event = threading.Event()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run=loop.run(epochs=1)), daemon=True)
    runner.start()
    try:
        wait_for(lambda: state.with_status(NODE.address, (st.OPEN,)), 30, "the node to open an epoch")
        # The README's operator step 2, while the node runs: `ecoai measure` into its default store, same devices.
        measured = subprocess.run(
            [sys.executable, "-m", "oracle.app.cli", "measure", "--seconds", "20", "--source", "replay", "--fast",
             "--json"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert measured.returncode == 0, measured.stderr[-2000:]
        runner.join(timeout=180)
    finally:
        loop.stop_event.set()
        runner.join(timeout=30)
    [rec] = result["run"].epochs
    assert rec.status in (st.ACCEPTED, *st.PENDING), rec
    t0, t1 = epoch_bounds(rec.epoch, view.epoch_seconds)
    own = aggregate([i for i in taken if isinstance(i, Reading)], [i for i in taken if isinstance(i, Gap)], t0, t1,
                    N_INTERVALS, rec.epoch, devices=loop.meter.devices)  # type: ignore[attr-defined]
    other = Store().readings(t0, t1)  # `ecoai measure`'s store: it did write into this epoch, same device names
    assert other and {r.device for r in other} <= set(loop.meter.devices)  # type: ignore[attr-defined]
    assert rec.energy_mj == own.total_mj  # the proved energy is the node's own readings, nothing added
