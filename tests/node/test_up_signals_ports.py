"""`ecoai up` on a fresh state folder (so it deploys with Ape): Ctrl-C stops it cleanly (finding 9), and an
immediate restart on the same fixed ports gets the same ports back (finding 10)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from oracle.net import can_bind, free_port
from oracle.paths import REPO_ROOT

from tests.conftest import wait_for

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def _up(rpc_port: int, metrics_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "oracle.app.cli", "up", "--no-web", "--epoch-seconds", "5",
         "--rpc-port", str(rpc_port), "--metrics-port", str(metrics_port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    try:
        proc.send_signal(signum)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_on_the_first_run_stops_cleanly_and_a_quick_restart_keeps_the_ports(ecoai_home: Path) -> None:
    rpc_port, metrics_port = free_port(), free_port()
    log = ecoai_home / "logs" / "oracle.log"
    first = _up(rpc_port, metrics_port)
    try:
        wait_for(lambda: "deployed GreenProof" in _read(log) and "open: measuring" in _read(log), 180,
                 "the first run to deploy and measure", first)
        # A scrape and the node's RPC calls leave connections that end in TIME_WAIT on both ports.
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            assert reply.status == 200
    finally:
        out, err = _stop(first, signal.SIGINT)
    assert first.returncode == 0, err[-3000:]
    assert "SIGINT received: stopping" in err and "anvil stopped" in err
    assert re.search(r"^\d+ epochs?: \d+ proofs? accepted", out, re.M)  # the summary line
    assert can_bind(rpc_port) and can_bind(metrics_port)  # nothing left listening

    again = _up(rpc_port, metrics_port)  # at once: the old sockets are still in TIME_WAIT
    try:
        wait_for(lambda: "open: measuring" in _read(log).partition("reusing contracts")[2], 120,
                 "the restarted node to measure", again)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            assert reply.status == 200
    finally:
        _, err2 = _stop(again, signal.SIGTERM)
    assert again.returncode == 0, err2[-3000:]
    assert f"anvil on http://127.0.0.1:{rpc_port} " in err2 and "is taken" not in err2
