"""A real v2 stack for the node campaigns: anvil, the contracts deployed, anvil dev account 1 admitted into the
replayed demo class, a config writer and `ecoai oracle run` as a child process in its own process group (so a
kill -9 takes its prover worker with it, like a power cut, and nothing is left running)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from faultlib import REPO_ROOT

NODE_CLASS = "H200/encoder-bf16/item"
SEL_SUBMIT = bytes.fromhex("17e1ffab")
NODE_INDEX, BENEFICIARY_INDEX = 1, 2


class NodeStack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "ecoai-home"
        self.anvil: Any = None
        self.deployment: Any = None
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> NodeStack:
        from oracle.chain.anvil import Anvil
        from oracle.chain.deploy import admit_node, deploy_local
        from oracle.node.keys import dev_account

        self.tmp.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.anvil = Anvil(log_file=self.tmp / "anvil.log").start()
        try:
            self.deployment = deploy_local(self.anvil.url, out=self.deployment_file)
            self.node = dev_account(NODE_INDEX).address
            admit_node(self.deployment, self.anvil.url, self.node, dev_account(BENEFICIARY_INDEX).address,
                       NODE_CLASS, "KR", "fault-campaign")
        except BaseException:
            self.anvil.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            self.kill(p)
        self.anvil.stop()

    @property
    def deployment_file(self) -> Path:
        return self.home / "deployments" / "local.json"

    def write_config(self, rpc_url: str, **submit: Any) -> Path:
        lines = ["[chain]", f'rpc_url = "{rpc_url}"', f'deployment = "{self.deployment_file}"',
                 "[key]", 'account = "dev:1"', "[exporter]", "port = 0", "[submit]", "max_backoff_s = 2.0"]
        lines += [f"{k} = {v!r}" for k, v in submit.items()]
        path = self.tmp / "oracle.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, config: Path, epochs: int | None = None, fault: str | None = None) -> subprocess.Popen:
        env = {**os.environ, "ECOAI_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        env.pop("ECOAI_FAULT", None)
        if fault:
            env["ECOAI_FAULT"] = fault
        args = [sys.executable, "-m", "oracle.app.cli", "oracle", "run", "--config", str(config)]
        if epochs:
            args += ["--epochs", str(epochs)]
        with open(self.tmp / "oracle.log", "ab") as log:
            proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the process group we started (the node and its prover worker), then reap."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    # ---- what the node left behind

    def rows(self) -> dict[int, dict[str, Any]]:
        path = self.home / "node.db"
        if not path.exists():
            return {}
        db = sqlite3.connect(path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return {row["epoch"]: dict(row) for row in db.execute("SELECT * FROM node_epochs")}
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()

    def reading_ids(self) -> set[int]:
        path = self.home / "node" / "measure.sqlite"
        if not path.exists():
            return set()
        db = sqlite3.connect(path, timeout=10)
        try:
            return {row[0] for row in db.execute("SELECT id FROM readings")}
        except sqlite3.OperationalError:
            return set()
        finally:
            db.close()

    def integrity(self) -> list[str]:
        bad = []
        for path in (self.home / "node.db", self.home / "node" / "measure.sqlite"):
            if path.exists():
                db = sqlite3.connect(path, timeout=10)
                try:
                    result = db.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    db.close()
                if result != "ok":
                    bad.append(f"{path.name}: {result}")
        return bad

    def log_text(self) -> str:
        path = self.tmp / "oracle.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def chain_view(self) -> dict[str, Any]:
        """On chain: EpochProved per epoch of our node, and every mined transaction from the node to
        GreenProof with the epochs it carried (submit or submitBatch)."""
        from eth_abi import decode
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(self.anvil.url))
        green = self.deployment.green_proof(w3)
        events = list(green.events.EpochProved.get_logs(argument_filters={"node": self.node},
                                                        from_block=self.deployment.block))
        proved: dict[int, list[Any]] = {}
        for ev in events:
            proved.setdefault(int(ev["args"]["epoch"]), []).append(ev)
        txs: dict[int, list[tuple[str, int]]] = {}
        green_addr = green.address.lower()
        for n in range(self.deployment.block, w3.eth.block_number + 1):
            block = w3.eth.get_block(n, full_transactions=True)
            for tx in block["transactions"]:
                if (tx["to"] or "").lower() != green_addr or tx["from"].lower() != self.node.lower():
                    continue
                data = bytes(tx["input"])
                status = w3.eth.get_transaction_receipt(tx["hash"])["status"]
                if data[:4] == SEL_SUBMIT:
                    epochs = [decode(["uint64"], data[4:36])[0]]
                else:
                    items = decode(["(address,uint64,uint8,uint64,uint8,uint256,uint256[8])[]"], data[4:])[0]
                    epochs = [int(i[1]) for i in items]
                for e in epochs:
                    txs.setdefault(int(e), []).append((tx["hash"].to_0x_hex(), status))
        return {"proved": proved, "txs": txs, "nonce": w3.eth.get_transaction_count(self.node)}


def wait_until(predicate, timeout: float, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None
