"""End to end: `ecoai up --epochs 3 --epoch-seconds 5 --no-web --json` on a fresh state folder."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.anvil import Anvil
from oracle.net import free_port
from oracle.chain.deployment import Deployment
from oracle.conventions import decode_epoch_record
from oracle.paths import REPO_ROOT

from tests.conftest import wait_for

from .conftest import BENEFICIARY, DEV_KEYS, NODE, proved_events

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_up_runs_three_epochs_to_accepted_proofs_and_credits(ecoai_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "oracle.app.cli", "up", "--epochs", "3", "--epoch-seconds", "5", "--no-web", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # one JSON line, nothing else on stdout
    summary = json.loads(lines[0])
    assert summary["epochs"] == 3
    accepted = summary["proofs_accepted"]
    assert len(accepted) == 3 and all(p["tx_hash"].startswith("0x") and p["gas"] > 100_000 for p in accepted)
    assert summary["energy_kwh"] > 0 and summary["carbon_kg"] > 0
    # v2: energy per unit of useful work; the replayed trace served items, so the credits are positive.
    assert summary["work_units"] > 0 and summary["work_unit"] == "item" and summary["credits"] > 0
    assert summary["energy_per_unit_uj"] == pytest.approx(1000 * summary["energy_by_kind_mj"]["replayed"]
                                                          / summary["work_units"])
    assert all(p["work_units"] > 0 and p["methods"] == 0x22 for p in accepted)  # replayed energy and work
    assert summary["node_footprint_mj"] > 0 and summary["node_footprint_method"].startswith("estimated")
    assert summary["carbon_kg"] == pytest.approx(summary["energy_kwh"] * 431 / 1000)  # KR factor on chain
    assert "Traceback" not in proc.stderr

    # Started again on the same state folder, with the web app, it reuses the chain and contracts (no new
    # deploy); SIGTERM stops everything it started: the oracle, the web app, then anvil (which dumps its state).
    deployment = Deployment.load(ecoai_home / "deployments" / "local.json")
    rpc_port, web_port, metrics_port = free_port(), free_port(), free_port()
    again = subprocess.Popen(
        [sys.executable, "-m", "oracle.app.cli", "up", "--rpc-port", str(rpc_port), "--web-port", str(web_port),
         "--metrics-port", str(metrics_port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = ecoai_home / "logs" / "oracle.log"
        wait_for(lambda: "open: measuring" in log.read_text().partition("reusing contracts")[2], 90,
                 "the restarted node to measure", again)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=5) as reply:
            assert reply.status == 200 and json.load(reply)["chain_id"] == 31337
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            exposition = reply.read().decode()
        energy = [line for line in exposition.splitlines() if line.startswith("ecoai_energy_joules_total{")]
        assert any('device="replay:' in line and 'kind="replayed"' in line for line in energy), energy
        # A replayed trace is no GPU of this machine, and `ecoai up` has no kubelet: no UUID, pod unknown.
        assert all('gpu_uuid=""' in line and 'pod="unknown"' in line for line in energy), energy
        assert "ecoai_work_units_total{" in exposition and 'unit="item"' in exposition
        assert "ecoai_oracle_footprint_joules_total" in exposition
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=30)
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    assert again.returncode == 0, err[-3000:]
    assert "reusing contracts" in err and "SIGTERM received" in err and "anvil stopped" in err
    assert "Traceback" not in err
    for port in (rpc_port, web_port, metrics_port):  # nothing it started is still listening
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert Deployment.load(ecoai_home / "deployments" / "local.json") == deployment
    logs = list((ecoai_home / "logs").iterdir())
    assert {"oracle.log", "web.log"} <= {log.name for log in logs}
    for key in DEV_KEYS:  # neither the node key nor the governor key is ever printed or logged
        assert key not in proc.stdout and key not in proc.stderr and key not in err
        for log in logs:
            assert key not in log.read_text(errors="replace")

    # `up` stopped anvil, which dumped its state: the chain, with the proofs, comes back from the state folder.
    with Anvil(port=free_port(), state_file=ecoai_home / "anvil" / "state.json") as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url))
        green = deployment.green_proof(w3)
        for proof in accepted:
            assert green.functions.isAccepted(NODE.address, proof["epoch"]).call()
            receipt = w3.eth.get_transaction_receipt(proof["tx_hash"])
            assert receipt["status"] == 1 and receipt["gasUsed"] == proof["gas"]
        events = proved_events(w3, deployment, NODE.address)
        assert sorted(e["args"]["epoch"] for e in events) == sorted(p["epoch"] for p in accepted)
        records = {e["args"]["epoch"]: decode_epoch_record(e["args"]["record"], e["args"]["amounts"]) for e in events}
        expected = sum(r.credits_wei for r in records.values())
        by_epoch = {p["epoch"]: p for p in accepted}
        for epoch, record in records.items():
            assert record.work_units == by_epoch[epoch]["work_units"]
            assert record.efficiency_uj_per_unit == by_epoch[epoch]["efficiency_uj_per_unit"]
        assert green.functions.accrued(BENEFICIARY.address).call() == expected > 0
        assert summary["credits"] == pytest.approx(expected / 10**18)
        assert int(summary["credits_wei"]) == expected
