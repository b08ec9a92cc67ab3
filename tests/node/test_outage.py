"""Outage test: anvil stops mid-run (dumping its state) and comes back on the same port; the proofs that
queued meanwhile are submitted once it returns, nothing is lost, and the log says what happened."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.anvil import Anvil
from oracle.net import free_port
from oracle.chain.deploy import admit_node, deploy_local
from oracle.chain.deployment import default_path

from tests.conftest import node_rows, wait_for

from .conftest import BENEFICIARY, DEMO_CLASS, DEV_KEYS, NODE, ecoai, proved_events, write_config

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_rpc_outage_queues_proofs_and_drains_them_when_the_chain_returns(tmp_path: Path, ecoai_home: Path) -> None:
    port, state_file = free_port(), tmp_path / "anvil-state.json"
    chain = Anvil(port=port, state_file=state_file, log_file=tmp_path / "anvil.log").start()
    proc = None
    try:
        deployment = deploy_local(chain.url)
        admit_node(deployment, chain.url, NODE.address, BENEFICIARY.address, DEMO_CLASS, "KR")
        config = write_config(tmp_path / "oracle.toml", chain.url, default_path())
        log = tmp_path / "oracle.err"
        proc = ecoai("oracle", "run", "--config", str(config), "--epochs", "2", log=log)
        first = wait_for(
            lambda: [e for e, r in node_rows(ecoai_home).items() if r["status"] == "accepted"],
            90,  # start-up, one 5-s epoch and its proof: slow on a loaded machine
            "a first accepted epoch",
            proc,
        )[0]

        chain.stop()  # SIGTERM: anvil dumps its state file
        # While the endpoint is down the node keeps measuring and proving; proofs wait in the queue.
        queued = wait_for(
            lambda: [e for e, r in node_rows(ecoai_home).items() if r["status"] == "proved"],
            40,
            "a proof queued during the outage",
            proc,
        )
        time.sleep(4.0)  # down for several retries
        chain = Anvil(port=port, state_file=state_file, log_file=tmp_path / "anvil.log").start()

        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, log.read_text()[-3000:]
        rows = node_rows(ecoai_home)
        assert len(rows) == 2 and all(r["status"] == "accepted" for r in rows.values()), rows
        w3 = Web3(Web3.HTTPProvider(chain.url))
        events = proved_events(w3, deployment, NODE.address)
        assert sorted(e["args"]["epoch"] for e in events) == sorted(rows)  # each once, the first one survived
        assert first in rows and set(queued) <= set(rows)
        text = log.read_text()
        assert text.count("RPC unavailable") >= 2 and "proof(s) queued" in text and "is back" in text
        assert "Traceback" not in text
        assert not any(key in text for key in DEV_KEYS)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        chain.stop()
