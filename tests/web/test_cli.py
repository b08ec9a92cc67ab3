"""`ecoai web` as `ecoai up` runs it: a subprocess that indexes, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from chainsetup import wait_for
from oracle.net import free_port
from oracle.paths import REPO_ROOT

ECOAI = [sys.executable, "-m", "oracle.app.cli"]


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = subprocess.run([*ECOAI, "web", "--deployment", str(tmp_path / "none.json")],
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    port = subprocess.run([*ECOAI, "web", "--port", "70000"], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=60)
    assert port.returncode == 2 and "--port" in port.stderr
    slots = subprocess.run([*ECOAI, "web", "serve", "--verify-concurrency", "0"], capture_output=True, text=True,
                           cwd=REPO_ROOT, timeout=60)
    assert slots.returncode == 2 and "--verify-concurrency" in slots.stderr


@pytest.mark.chain
def test_serves_the_indexed_chain_and_stops_on_sigterm(web_chain, tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "index.sqlite"
    log = (tmp_path / "web.log").open("w")
    process = subprocess.Popen([*ECOAI, "web", "--port", str(port), "--deployment", str(web_chain.deployment_file),
                                "--rpc-url", web_chain.anvil.url, "--db", str(db), "--poll-interval", "0.2"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: json.load(urllib.request.urlopen(f"{url}/api/totals", timeout=2))["proofs"] == 3,
                 "ecoai web to index the chain", timeout=60)
        health = json.load(urllib.request.urlopen(f"{url}/healthz", timeout=2))
        assert health["status"] == "ok" and health["chain_id"] == 31337 and health["indexer"]["running"]
        board = urllib.request.urlopen(f"{url}/leaderboard", timeout=2).read().decode()
        assert web_chain.accounts[1] in board
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "web.log").read_text()[-2000:]
    assert db.exists()


@pytest.mark.chain
def test_index_and_serve_as_separate_processes(web_chain, index_url: str, tmp_path: Path) -> None:
    """`ecoai web index` twice (the second waits for the lock), `ecoai web serve --workers 2` reading the same
    database; the URL travels in $ECOAI_DATABASE_URL, never on the command line."""
    env = {**os.environ, "ECOAI_DATABASE_URL": index_url}
    chain_args = ["--deployment", str(web_chain.deployment_file), "--rpc-url", web_chain.anvil.url,
                  "--poll-interval", "0.2"]
    health_port, port = free_port(), free_port()
    node = web_chain.proofs[0]["node"]
    node_db = _node_db_with_footprint(tmp_path / "node.db", node, 4200)
    logs = [tmp_path / f"{name}.log" for name in ("index1", "index2", "serve")]
    files = [log.open("w") for log in logs]
    processes = [subprocess.Popen([*ECOAI, "web", "index", *chain_args, "--health-port", str(health_port)],
                                  stdout=files[0], stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)]
    try:
        wait_for(lambda: json.load(urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=2))
                 ["indexed_block"] == web_chain.w3.eth.block_number, "the first indexer to index", timeout=60)
        processes.append(subprocess.Popen([*ECOAI, "web", "index", *chain_args], stdout=files[1],
                                          stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env))
        processes.append(subprocess.Popen([*ECOAI, "web", "serve", "--port", str(port), "--workers", "2",
                                           "--deployment", str(web_chain.deployment_file), "--rpc-url",
                                           web_chain.anvil.url, "--verify-concurrency", "1",
                                           "--node-db", str(node_db)], stdout=files[2], stderr=subprocess.STDOUT,
                                          cwd=REPO_ROOT, env=env))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: json.load(urllib.request.urlopen(f"{url}/api/totals", timeout=2))["proofs"] == 3,
                 "ecoai web serve to answer from the index", timeout=60)
        health = json.load(urllib.request.urlopen(f"{url}/healthz", timeout=2))
        assert health["indexed_block"] == web_chain.w3.eth.block_number and health["indexer"] is None
        wait_for(lambda: "waiting for the indexer lock held by" in logs[1].read_text(),
                 "the second indexer to wait for the lock", timeout=60)
        assert index_url.split("@")[-1] not in " ".join(processes[2].args)  # not in the process list
        for _ in range(4):  # --node-db reaches every worker: each answers with the node's reported footprint
            page = urllib.request.urlopen(f"{url}/nodes/{node}", timeout=5).read().decode()
            assert 'data-mj="4200">4.2 J<' in page and "estimated: cli test" in page
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in processes]
        for f in files:
            f.close()
    assert codes == [0] * len(processes), [log.read_text()[-2000:] for log in logs]


def _node_db_with_footprint(path: Path, node: str, footprint_mj: int) -> Path:
    """A node.db as the node writes it (oracle.node.state), one closed epoch with its own footprint."""
    from oracle.measure.epoch import EpochEnergy
    from oracle.node import state as st
    from oracle.node.state import NodeState

    state = NodeState(path)
    energy = EpochEnergy(1, 64.0, 128.0, (5,) * 64, 320, {"replay": 320}, {"replayed": 320}, ("gpu0",), (),
                         (3,) * 64, 192, "item", "replayed", ("replay:h200",))
    state.open_epoch(node, 1, 64)
    state.record_closed(node, 1, energy, st.PROVING, [], [], 0, 100, 1, "tier 0", footprint_mj, "estimated: cli test")
    state.close()
    return path
