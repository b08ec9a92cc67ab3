"""A local anvil node (from npm @foundry-rs/anvil) run as a child process on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from oracle.childenv import child_env
from oracle.net import free_port
from oracle.paths import node_tool

__all__ = ["Anvil", "rpc_call"]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.load(response)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


class Anvil:
    """Starts anvil on 127.0.0.1, waits until it answers, and stops it (also as a context manager).

    With `state_file`, anvil loads its chain from that file at start and dumps it there on a clean stop,
    so a local chain survives restarts of `ecoai up`.
    """

    def __init__(
        self,
        port: int | None = None,
        state_file: Path | None = None,
        block_time: float | None = None,
        chain_id: int = 31337,
        log_file: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.state_file = state_file
        self.block_time = block_time
        self.chain_id = chain_id
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Anvil:
        args = [node_tool("anvil"), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(self.chain_id), "--hardfork", "prague"]
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--state", str(self.state_file)]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=child_env())
        finally:
            if self.log_file:
                log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with code {self.process.returncode} on port {self.port}")
            try:
                rpc_call(self.url, "eth_chainId", timeout=0.5)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"anvil did not answer on {self.url} within {timeout} s")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM lets anvil dump its state file; SIGKILL only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
