"""v2 end to end on anvil with real proofs: energy per unit of work, zero work earns nothing, batches, honesty.

Two nodes replay the same H200 trace energy; one serves (the trace's items_served_total), one is idle (a local
`work:idle` counter nobody adds to). The serving node is credited, the idle one proves nothing and earns 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.deployment import Deployment
from oracle.conventions import decode_epoch_record
from oracle.errors import UsageError
from oracle.node.config import parse_config
from oracle.node.keys import dev_account
from oracle.zk import efficiency_commitment

from tests.conftest import node_rows

from .conftest import BENEFICIARY, DEMO_CLASS, NODE, ecoai, proved_events, write_config

IDLE_NODE, IDLE_BENEFICIARY = dev_account(3), dev_account(4)


@pytest.mark.chain
@pytest.mark.slow
def test_serving_node_earns_and_idle_node_proves_nothing(
    anvil, deployed: Deployment, admit, ecoai_home: Path, tmp_path: Path
) -> None:
    admit(NODE.address, BENEFICIARY.address)
    admit(IDLE_NODE.address, IDLE_BENEFICIARY.address)
    deployment_file = ecoai_home / "deployments" / "local.json"
    serving_home, idle_home = tmp_path / "serving", tmp_path / "idle"
    serving_cfg = write_config(tmp_path / "serving.toml", anvil.url, deployment_file)
    idle_cfg = write_config(tmp_path / "idle.toml", anvil.url, deployment_file, key={"account": "dev:3"},
                            measure={"work_sources": ["work:idle@item"]})
    procs = []
    for home, cfg in ((serving_home, serving_cfg), (idle_home, idle_cfg)):
        home.mkdir()
        procs.append(ecoai("oracle", "run", "--config", str(cfg), "--epochs", "2", "--json",
                           env={"ECOAI_HOME": str(home)}, log=tmp_path / f"{home.name}.err"))
    outs = []
    for proc, home in zip(procs, (serving_home, idle_home)):
        out, _ = proc.communicate(timeout=150)
        assert proc.returncode == 0, (tmp_path / f"{home.name}.err").read_text()[-3000:]
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    serving, idle = outs

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green = deployed.green_proof(w3)
    # The serving node: every epoch proved with its work, credited to its beneficiary.
    assert len(serving["proofs_accepted"]) == 2 and serving["work_units"] > 0 and serving["credits"] > 0
    assert serving["energy_per_unit_uj"] > 0 and serving["class_id"] == DEMO_CLASS
    accrued = green.functions.accrued(BENEFICIARY.address).call()
    assert accrued == int(serving["credits_wei"]) > 0
    events = proved_events(w3, deployed, NODE.address)
    records = [decode_epoch_record(e["args"]["record"], e["args"]["amounts"]) for e in events]
    assert sum(r.credits_wei for r in records) == accrued
    rows = node_rows(serving_home)
    for e, record in zip(events, records, strict=True):
        row = rows[e["args"]["epoch"]]
        assert record.work_units == row["work_total"] > 0
        assert record.methods == row["methods"] == 2 | (2 << 4)  # replayed energy, replayed work
        assert e["args"]["commitment"] == efficiency_commitment(
            json.loads(row["intervals_mj"]), json.loads(row["work_units"]), int(row["salt"]), NODE.address,
            row["epoch"])
        assert row["footprint_mj"] > 0 and row["footprint_method"].startswith("estimated")

    # The idle node: same energy, zero work → no proof, nothing earned, its own outcome.
    assert idle["proofs_accepted"] == [] and idle["credits"] == 0 and idle["work_units"] == 0
    assert len(idle["zero_work"]) == 2 and idle["energy_kwh"] > 0
    assert green.functions.accrued(IDLE_BENEFICIARY.address).call() == 0
    assert proved_events(w3, deployed, IDLE_NODE.address) == []
    assert all(r["status"] == "zero_work" for r in node_rows(idle_home).values())
    assert "zero work: nothing to prove" in (tmp_path / "idle.err").read_text()


@pytest.mark.chain
@pytest.mark.slow
def test_batch_size_3_settles_three_epochs_in_one_transaction(
    node_config: Path, anvil, deployed: Deployment, ecoai_home: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "batch.toml", anvil.url, ecoai_home / "deployments" / "local.json",
                          submit={"batch_size": 3, "batch_wait_s": 120})
    log = tmp_path / "batch.err"
    proc = ecoai("oracle", "run", "--config", str(config), "--epochs", "3", "--json", log=log)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    accepted = summary["proofs_accepted"]
    assert len(accepted) == 3 and len({p["tx_hash"] for p in accepted}) == 1
    assert all(p["batch_size"] == 3 for p in accepted)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    receipt = w3.eth.get_transaction_receipt(accepted[0]["tx_hash"])
    assert receipt["status"] == 1 and receipt["gasUsed"] == accepted[0]["gas"]
    settled = deployed.green_proof(w3).events.BatchSettled().process_receipt(receipt)
    assert len(settled) == 1 and settled[0]["args"]["count"] == 3
    assert w3.eth.get_transaction_count(NODE.address) == 1  # one transaction for the three epochs
    rows = node_rows(ecoai_home)
    assert all(r["status"] == "accepted" and r["batch_size"] == 3 and r["raw_tx"] for r in rows.values())
    print(f"batch of 3: gas {receipt['gasUsed']} = {receipt['gasUsed'] // 3} per epoch")


LOCAL = {"chain": {"network": "ethereum:local", "rpc_url": "http://127.0.0.1:8545"}}
SEPOLIA = {"chain": {"network": "ethereum:sepolia", "rpc_url": "https://sepolia.example.org"},
           "key": {"account": "ape:node"}}


@pytest.mark.parametrize("measure", [
    {"sources": ["nvml"], "work_sources": ["replay"]},
    {"sources": ["replay"], "work_sources": ["vllm:http://127.0.0.1:8000/metrics"]},
    {"sources": ["cpu"], "work_sources": ["vllm:http://127.0.0.1:8000/metrics"]},
    {"sources": ["replay:/tmp/trace.csv"], "work_sources": ["work:jobs@item"]},
])
def test_non_local_network_refuses_replay_and_estimates_unless_allowed(measure: dict) -> None:
    with pytest.raises(UsageError, match="measure.allow_unmeasured"):
        parse_config({**SEPOLIA, "measure": measure})
    # Said explicitly: allowed (the methods are public on chain either way).
    assert parse_config({**SEPOLIA, "measure": {**measure, "allow_unmeasured": True}}).measure.allow_unmeasured
    # A local loopback chain is the demo: allowed without saying so.
    assert parse_config({**LOCAL, "measure": measure}).measure.work_sources == tuple(measure["work_sources"])
    # A "local" network name on a non-loopback endpoint is not local.
    with pytest.raises(UsageError, match="measure.allow_unmeasured"):
        parse_config({"chain": {"network": "ethereum:local", "rpc_url": "http://10.0.0.5:8545"},
                      "key": {"account": "ape:node"}, "measure": measure})


def test_measured_sources_pass_on_a_testnet_and_v2_defaults() -> None:
    config = parse_config({**SEPOLIA, "measure": {"sources": ["nvml"],
                                                  "work_sources": ["vllm:http://10.0.0.7:8000/metrics"]}})
    assert config.measure.allow_unmeasured is False
    defaults = parse_config({})
    assert defaults.measure.work_sources == ("replay",) and defaults.submit.batch_size == 1
    assert defaults.submit.batch_wait_s == 0.0 and defaults.submit.relay_url == ""
    for bad, field in (({"submit": {"batch_size": 0}}, "submit.batch_size"),
                       ({"submit": {"batch_wait_s": -1}}, "submit.batch_wait_s"),
                       ({"submit": {"relay_url": "ftp://x"}}, "submit.relay_url"),
                       ({"measure": {"work_sources": ["nonsense"]}}, "measure.work_sources"),
                       ({"measure": {"allow_unmeasured": "yes"}}, "measure.allow_unmeasured")):
        with pytest.raises(UsageError, match=field):
            parse_config(bad)
