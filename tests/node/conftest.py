"""Helpers for the oracle-node tests: a node admitted on the deployed stack, its config, subprocess runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from oracle.chain.deployment import Deployment
from oracle.node.keys import dev_account
from oracle.paths import REPO_ROOT

NODE = dev_account(1)
BENEFICIARY = dev_account(2)
# The replayed demo class of oracle/chain/default_params.toml (unit "item", replayed submissions accepted).
DEMO_CLASS = "H200/encoder-bf16/item"
# anvil's documented dev keys (public test keys): they must never show up in our logs or outputs anyway.
DEV_KEYS = (
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
)


def write_config(path: Path, rpc_url: str, deployment: Path, **extra: dict[str, Any]) -> Path:
    sections: dict[str, dict[str, Any]] = {
        "chain": {"rpc_url": rpc_url, "deployment": str(deployment)},
        "key": {"account": "dev:1"},
        "exporter": {"port": 0},
        "submit": {"max_backoff_s": 2.0},
        "measure": {"sources": ["replay"], "work_sources": ["replay"]},
    }
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {value!r}".replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def node_config(tmp_path: Path, anvil, deployed: Deployment, admit, ecoai_home: Path) -> Path:
    """This test's node (anvil dev account 1, credits to dev account 2) admitted into the replayed H200 demo
    class in KR, and its config (energy and work: the replayed H200 trace)."""
    admit(NODE.address, BENEFICIARY.address)
    return write_config(tmp_path / "oracle.toml", anvil.url, ecoai_home / "deployments" / "local.json")


def ecoai(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`ecoai ARGS` as a child process (stdout piped, stderr to `log`)."""
    full_env = {**os.environ, **(env or {})}
    err = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "oracle.app.cli", *args],
            cwd=REPO_ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if log:
            err.close()  # type: ignore[union-attr]


def reading_ids(home: Path) -> set[int]:
    path = home / "node" / "measure.sqlite"  # the node's own store (not `ecoai measure`'s <state>/measure.sqlite)
    if not path.exists():
        return set()
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT id FROM readings")}
    finally:
        db.close()


def proved_events(w3: Web3, deployment: Deployment, node: str) -> list[Any]:
    """Every EpochProved event of `node` on chain."""
    return list(
        deployment.green_proof(w3).events.EpochProved.get_logs(
            argument_filters={"node": node}, from_block=deployment.block
        )
    )


# The measured H200 MLP profile the optimizer ships (provenance in its header lines).
H200_PROFILE = REPO_ROOT / "oracle" / "optimize" / "data" / "h200_mlp8x4096_profile.csv"
