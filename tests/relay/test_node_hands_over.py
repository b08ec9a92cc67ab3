"""A real node hands its epochs to a real relay: `ecoai oracle run` with `[submit] relay_url` and `ecoai relay`,
both as processes, on anvil with the v2 GreenProof. The relay settles the node's 2 epochs (5 s each); the node
never sends a transaction itself, records each epoch as accepted with the relay's transaction, and the credits
go to the node's beneficiary (never to the relayer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from oracle.conventions import decode_epoch_record
from oracle.paths import REPO_ROOT

from tests.conftest import node_rows

from .conftest import RELAYER, RelayProcess, node_address

pytestmark = [pytest.mark.chain, pytest.mark.slow]
NODE, BENEFICIARY = 1, 2  # anvil dev accounts (the relayer is dev account RELAYER)


def node_config(path: Path, rpc_url: str, deployment: Path, relay_url: str) -> Path:
    path.write_text(f"""[chain]
rpc_url = "{rpc_url}"
deployment = "{deployment}"

[key]
account = "dev:{NODE}"

[exporter]
port = 0

[measure]
sources = ["replay"]
work_sources = ["replay"]

[submit]
max_backoff_s = 2.0
relay_url = "{relay_url}"
""")
    return path


def test_a_node_hands_its_epochs_to_a_relay_that_settles_them(anvil, deployed, admit, ecoai_home: Path,
                                                                tmp_path: Path, relays) -> None:
    node, beneficiary, relayer = node_address(NODE), node_address(BENEFICIARY), node_address(RELAYER)
    admit(node, beneficiary)
    deployment_file = ecoai_home / "deployments" / "local.json"
    relay = RelayProcess(anvil.url, deployment_file, tmp_path / "relay-state", tmp_path / "relay.log",
                         batch_size=2, interval_s=4.0)
    relays.append(relay)
    relay.start()
    config = node_config(tmp_path / "oracle.toml", anvil.url, deployment_file, relay.url)
    log = tmp_path / "oracle.err"
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "oracle.app.cli", "oracle", "run", "--config", str(config),
                                 "--epochs", "2"], cwd=REPO_ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                                stderr=err, stdin=subprocess.DEVNULL)
    try:
        proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]

    rows = node_rows(ecoai_home)
    assert len(rows) == 2 and all(r["status"] == "accepted" for r in rows.values()), rows
    assert text.count("handed over to relay") >= 2 and "submitting it directly" not in text, text[-3000:]
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green = deployed.green_proof(w3)
    assert w3.eth.get_transaction_count(node) == 0  # the node signed and paid for nothing
    credits = 0
    for epoch, row in rows.items():
        assert green.functions.isAccepted(node, epoch).call()
        [event] = green.events.EpochProved.get_logs(argument_filters={"node": node, "epoch": epoch},
                                                    from_block=deployed.block)
        tx_hash = event["transactionHash"].to_0x_hex()
        assert row["tx_hash"].lower() == tx_hash.lower()  # the node recorded the relay's transaction
        assert w3.eth.get_transaction(tx_hash)["from"] == relayer
        record = decode_epoch_record(event["args"]["record"], event["args"]["amounts"])
        assert record.beneficiary == beneficiary and record.credits_wei > 0
        item = relay.item(node, epoch)
        assert item["status"] == "settled" and item["tx_hash"].lower() == tx_hash.lower()
        credits += record.credits_wei
    assert green.functions.accrued(beneficiary).call() == credits > 0
    assert green.functions.accrued(relayer).call() == 0
    assert relay.status()["queue"]["settled"] == 2
