"""`ecoai up`'s processes: ports, the local anvil, and the web app as a child process (started, awaited, stopped)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from oracle.childenv import child_env
from oracle.net import can_bind, free_port
from oracle.paths import REPO_ROOT

log = logging.getLogger("ecoai.up")


def pick_port(wanted: int, what: str) -> int:
    """`wanted` when a server can bind it (sockets of a run that just stopped, in TIME_WAIT, do not count: address
    reuse, as servers bind), else a free port, with a loud warning naming both: clients configured for the
    documented port (a wallet, a Prometheus scrape) will not find it."""
    if can_bind(wanted):
        return wanted
    port = free_port()
    log.warning("port %d is taken by another process listening there; %s uses port %d instead (clients configured "
                "for %d will not reach it)", wanted, what, port, wanted)
    return port


def start_web(port: int, deployment_file: Path, rpc_url: str, log_file: Path,
              node_db: Path | None = None) -> subprocess.Popen[bytes]:
    """`ecoai web` as a child process, its output appended to `log_file`; with `node_db`, the node pages show that
    node's own footprint (read-only, reported off chain)."""
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "oracle.app.cli", "web", "--port", str(port), "--deployment", str(deployment_file),
             "--rpc-url", rpc_url, *(["--node-db", str(node_db)] if node_db else [])],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
        )


def wait_web(url: str, proc: subprocess.Popen[bytes], stop: threading.Event, timeout: float = 60.0) -> bool:
    """True once the web app answers /healthz; False if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # it answers, even if unhappy (e.g. the indexer is still catching up)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
