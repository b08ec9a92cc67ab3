"""Relay test fixtures: real v2 proofs (oracle.zk), the relay's HTTP app on a real uvicorn on loopback, and a
real `ecoai relay` process started and stopped per test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oracle.chain.keys import dev_account
from oracle.net import free_port
from oracle.paths import REPO_ROOT
from tests.conftest import wait_for

DEMO_CLASS = "H200/encoder-bf16/item"  # default_params.toml's replayed demo class (local chains only)
DEMO_TIER = 0  # its tier 0 is 149,172 µJ per item
DEMO_TAU = 149_172
ENERGY = [1000] * 64  # 64,000 mJ for 640 items = 100,000 µJ per item: under tier 0
WORK = [10] * 64
REPLAYED = 0x22  # replayed energy, replayed work
RELAYER = 3
NODES = (4, 5)
BENEFICIARIES = (6, 7)


def prove(prover: Any, node: str, epoch: int, salt: int = 11) -> Any:
    """A real v2 proof of ENERGY/WORK at the demo class's tier 0 for (node, epoch)."""
    return prover.prove_efficiency(ENERGY, WORK, salt, DEMO_TAU, epoch, node, REPLAYED)


@pytest.fixture(scope="session")
def eff_prover() -> Iterator[Any]:
    from oracle.zk import Prover

    with Prover() as p:
        yield p


@pytest.fixture(scope="session")
def eff_vk() -> dict:
    from oracle.zk.artifacts import EFFICIENCY
    from oracle.zk.verifier import load_verification_key

    return load_verification_key(EFFICIENCY.verification_key)


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """`serve(app)` runs the ASGI app on a real uvicorn on 127.0.0.1 (a free port) in a thread; returns its URL.
    Stopped after the test."""
    import uvicorn

    servers: list[tuple[Any, threading.Thread]] = []

    def _serve(app: Any) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: get_json(url + "/healthz")["ok"], 20, "the relay app")
        return url

    yield _serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


class RelayProcess:
    """`ecoai relay …` (oracle.app.cli) as a child process."""

    def __init__(self, rpc_url: str, deployment: Path, state: Path, log: Path, batch_size: int = 2,
                 interval_s: float = 60.0, key: str = f"dev:{RELAYER}") -> None:
        self.args = [sys.executable, "-m", "oracle.app.cli", "relay", "--rpc-url", rpc_url, "--deployment", str(deployment),
                     "--key", key, "--batch-size", str(batch_size), "--interval", str(interval_s),
                     "--state", str(state)]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, fault: str | None = None) -> RelayProcess:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k != "ECOAI_FAULT"}
        if fault:
            env["ECOAI_FAULT"] = fault
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*self.args, "--port", str(port)], cwd=REPO_ROOT, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: get_json(self.url + "/healthz")["ok"], 60, "the relay to listen", self.proc)
        return self

    def status(self) -> dict:
        return get_json(self.url + "/v1/status")

    def item(self, node: str, epoch: int) -> dict:
        return get_json(f"{self.url}/v1/proofs/{node}/{epoch}")

    def wait_killed(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def relays() -> Iterator[list[RelayProcess]]:
    """Relay processes a test starts register here; every one still running is stopped after the test."""
    started: list[RelayProcess] = []
    yield started
    for relay in started:
        relay.stop()


def node_address(index: int) -> str:
    return dev_account(index).address
