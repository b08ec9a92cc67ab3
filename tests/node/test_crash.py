"""Crash test: the oracle is SIGKILLed while sampling, while proving and after sending (before the receipt);
each restart resumes from SQLite. No reading is lost and every epoch is accepted at most once on chain."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.deployment import Deployment
from oracle.conventions import decode_epoch_record
from oracle.node.keys import dev_account
from oracle.zk import efficiency_commitment

from tests.conftest import node_rows, wait_for

from .conftest import DEV_KEYS, NODE, ecoai, proved_events, reading_ids

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_sigkill_at_each_step_then_restart_loses_nothing_and_never_double_submits(
    node_config: Path, ecoai_home: Path, anvil, deployed: Deployment, tmp_path: Path
) -> None:
    log = tmp_path / "oracle.err"
    run = ("oracle", "run", "--config", str(node_config))
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    rng = random.Random()

    # 1. Killed at a random moment while sampling an epoch.
    proc = ecoai(*run, "--epochs", "1", log=log)
    first = wait_for(
        lambda: [e for e, r in node_rows(ecoai_home).items() if r["status"] == "open"], 20, "an open epoch", proc
    )[0]
    wait_for(lambda: reading_ids(ecoai_home), 10, "stored readings", proc)
    time.sleep(0.5 + rng.random() * 3)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    before_1 = reading_ids(ecoai_home)
    assert node_rows(ecoai_home)[first]["status"] == "open"

    # 2. Restarted, it closes the interrupted epoch (incomplete: the downtime is a gap, not a guess), measures
    #    the next one and is killed while proving it (its salt already stored).
    proc = ecoai(*run, "--epochs", "2", env={"ECOAI_FAULT": "proving"}, log=log)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    rows = node_rows(ecoai_home)
    assert rows[first]["status"] == "incomplete" and rows[first]["gaps"] != "[]"
    second = max(rows)
    assert rows[second]["status"] == "proving" and rows[second]["salt"]
    salt = int(rows[second]["salt"])
    before_2 = reading_ids(ecoai_home)
    assert before_1 <= before_2  # nothing stored before the kill is lost

    # 3. Restarted, it proves with the stored salt, sends, and is killed before recording the receipt.
    proc = ecoai(*run, "--epochs", "1", env={"ECOAI_FAULT": "after_send"}, log=log)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    rows = node_rows(ecoai_home)
    assert rows[second]["status"] == "sending" and rows[second]["tx_hash"]
    assert int(rows[second]["salt"]) == salt
    nonce_after_send = w3.eth.get_transaction_count(NODE.address)

    # 4. Restarted without faults: it sees the epoch accepted on chain (no second submit), then runs one more,
    #    whose transaction takes the next nonce.
    proc = ecoai(*run, "--epochs", "2", log=log)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, log.read_text()[-3000:]
    rows = node_rows(ecoai_home)
    third = max(rows)
    assert third > second and rows[second]["status"] == "accepted" and rows[third]["status"] == "accepted"
    assert before_2 <= reading_ids(ecoai_home)

    # On chain: exactly one EpochProved per accepted epoch, the committed interval energies are the stored ones.
    green = deployed.green_proof(w3)
    events = proved_events(w3, deployed, NODE.address)
    assert [e["args"]["epoch"] for e in events] == [second, third]
    assert not green.functions.isAccepted(NODE.address, first).call()
    intervals_mj = json.loads(rows[second]["intervals_mj"])
    work_units = json.loads(rows[second]["work_units"])
    by_epoch = {e["args"]["epoch"]: e for e in events}
    assert by_epoch[second]["args"]["commitment"] == efficiency_commitment(intervals_mj, work_units, salt,
                                                                           NODE.address, second)
    record = decode_epoch_record(by_epoch[second]["args"]["record"], by_epoch[second]["args"]["amounts"])
    assert record.work_units == rows[second]["work_total"] == sum(work_units) > 0
    assert by_epoch[second]["transactionHash"].to_0x_hex() == rows[second]["tx_hash"]
    # Nonces: one transaction per accepted epoch, none wasted or reused across the restarts.
    assert nonce_after_send == 1 and w3.eth.get_transaction_count(NODE.address) == 2
    assert w3.eth.get_transaction(rows[third]["tx_hash"])["nonce"] == 1
    text = log.read_text()
    assert "already accepted on chain" in text and "Traceback" not in text
    assert not any(key in text for key in DEV_KEYS)  # the node's key is never logged
    assert dev_account(1).address in text
