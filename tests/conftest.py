"""Fixtures shared by every test folder: an isolated state folder and a real anvil node on loopback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oracle.chain.anvil import Anvil
from oracle.paths import NODE_BIN, REPO_ROOT, SOLCX_DIR

# ape-foundry and our subprocesses find anvil, circom2 and snarkjs only on PATH.
os.environ.setdefault("SOLCX_BINARY_PATH", str(SOLCX_DIR))  # the checkout's solc shim, never ~/.solcx
os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             proc: subprocess.Popen[bytes] | None = None) -> Any:
    """Poll `predicate` until it returns something truthy (an OSError or sqlite3.Error counts as not yet: a server
    still starting, a database being written); AssertionError on timeout or when `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, sqlite3.Error):
            value = None
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def node_rows(home: Path) -> dict[int, dict[str, Any]]:
    """The node's recorded epochs (<home>/node.db), by epoch."""
    db = sqlite3.connect(home / "node.db")
    db.row_factory = sqlite3.Row
    try:
        return {row["epoch"]: dict(row) for row in db.execute("SELECT * FROM node_epochs")}
    finally:
        db.close()


@pytest.fixture(autouse=True)
def ecoai_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its runtime state under its own temporary folder, never the checkout's .ecoai."""
    home = tmp_path / "ecoai-home"
    home.mkdir()
    monkeypatch.setenv("ECOAI_HOME", str(home))
    return home


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    """A fresh anvil on a free loopback port, stopped after the test."""
    with Anvil(log_file=tmp_path / "anvil.log") as node:
        yield node


# ---- chain fixtures (contracts engineer): the deployed EcoAI stack on the `anvil` fixture ----

@pytest.fixture
def deployed(anvil: Anvil, ecoai_home: Path):
    """GreenProof, EcoCredit and Groth16Verifier deployed on `anvil` with oracle/chain/default_params.toml
    (anvil's first dev account is deployer and governor). Returns the `oracle.chain.deployment.Deployment`;
    the file is also written to <ECOAI_HOME>/deployments/local.json."""
    from oracle.chain.deploy import deploy_local

    return deploy_local(anvil.url)


DEMO_CLASS = "H200/encoder-bf16/item"  # the replayed demo class (oracle/chain/default_params.toml)


@pytest.fixture
def admit(anvil: Anvil, deployed):
    """`admit(node, beneficiary, class_id=DEMO_CLASS, region="KR", label="")` admits a node on the `deployed`
    stack into an efficiency class (default: the replayed demo class of oracle/chain/default_params.toml)."""
    from oracle.chain.deploy import admit_node

    def _admit(node: str, beneficiary: str, class_id: str = DEMO_CLASS, region: str = "KR", label: str = "") -> None:
        admit_node(deployed, anvil.url, node, beneficiary, class_id, region, label)

    return _admit
