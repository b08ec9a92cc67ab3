"""`ecoai up`: a local anvil with persisted state, the contracts, this node admitted, the oracle, the web app.

Everything started here is stopped here, on normal exit, Ctrl-C or SIGTERM (anvil dumps its state on stop).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from web3 import Web3

from oracle.chain.anvil import Anvil, free_port
from oracle.chain.deployment import Deployment, default_path
from oracle.errors import UsageError
from oracle.node.chain import RpcUnavailable, label_bytes32, send_transaction
from oracle.node.config import NodeConfig, parse_config
from oracle.node.keys import dev_account
from oracle.paths import REPO_ROOT, state_dir

log = logging.getLogger("ecoai.up")

GOVERNOR_DEV_INDEX = 0  # anvil account 0 deploys and governs the local chain
NODE_DEV_INDEX = 1  # the local node's key
BENEFICIARY_DEV_INDEX = 2  # the wallet its credits accrue to (claimable on the web app's claim page)
DEFAULT_METRICS_PORT = 9464


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pick_port(wanted: int, what: str) -> int:
    if port_is_free(wanted):
        return wanted
    port = free_port()
    log.warning("port %d is taken; %s uses %d instead", wanted, what, port)
    return port


def _has_code(w3: Web3, address: str) -> bool:
    return len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0


def _governor_transact(w3: Web3, call: Any) -> None:
    """Send one governance call from anvil's dev account 0 (the local deployer and governor)."""
    send_transaction(w3, dev_account(GOVERNOR_DEV_INDEX), call)


def ensure_stack(
    rpc_url: str, deployment_file: Path, epoch_seconds: int | None, hardware_class: str, region: str
) -> Deployment:
    """Deploy unless this chain already has our contracts; set the epoch length; admit this node."""
    from dataclasses import replace

    from oracle.chain import deploy as chain_deploy

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    deployment: Deployment | None = None
    if deployment_file.exists():
        try:
            deployment = Deployment.load(deployment_file)
            if deployment.chain_id != w3.eth.chain_id or not _has_code(w3, deployment.address("GreenProof")):
                log.info("deployment file %s does not match this chain: deploying afresh", deployment_file)
                deployment = None
        except ValueError as exc:
            log.warning("unreadable deployment file (%s): deploying afresh", exc)
    params = chain_deploy.load_params()
    if epoch_seconds:
        params = replace(params, epoch_length_s=epoch_seconds)
    if deployment is None:
        log.info("deploying the contracts (Ape) on %s", rpc_url)
        # Ape reports each transaction on stdout; ours is kept for the summary (--json prints one line).
        with contextlib.redirect_stdout(sys.stderr):
            deployment = chain_deploy.deploy_local(rpc_url, params, deployment_file)
        log.info(
            "deployed GreenProof %s, EcoCredit %s, Groth16Verifier %s (deployment %s)",
            deployment.address("GreenProof"),
            deployment.address("EcoCredit"),
            deployment.address("Groth16Verifier"),
            deployment_file,
        )
    else:
        log.info("reusing contracts of %s (GreenProof %s)", deployment_file, deployment.address("GreenProof"))
    green_proof = deployment.green_proof(w3)
    if epoch_seconds and green_proof.functions.epochLength().call() != epoch_seconds:
        # Thresholds are energy per epoch: a new length needs the classes rescaled with it.
        _governor_transact(w3, green_proof.functions.setEpochLength(epoch_seconds))
        for name in params.hardware_classes:
            baseline_mj, tiers_mj = params.class_energy(name)
            _governor_transact(w3, green_proof.functions.setHardwareClass(label_bytes32(name), baseline_mj, tiers_mj))
        log.info("epoch length set to %d s; hardware class thresholds rescaled to it", epoch_seconds)
    node = dev_account(NODE_DEV_INDEX).address
    beneficiary = dev_account(BENEFICIARY_DEV_INDEX).address
    info = green_proof.functions.nodeInfo(node).call()
    if not info[3] or bytes(info[1]) != label_bytes32(hardware_class) or bytes(info[2]) != label_bytes32(region):
        _governor_transact(
            w3, green_proof.functions.admitNode(node, beneficiary, label_bytes32(hardware_class), label_bytes32(region))
        )
        log.info("admitted node %s (beneficiary %s, class %s, region %s)", node, beneficiary, hardware_class, region)
    return deployment


def _start_web(port: int, deployment_file: Path, rpc_url: str, log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oracle.cli",
                "web",
                "--port",
                str(port),
                "--deployment",
                str(deployment_file),
                "--rpc-url",
                rpc_url,
            ],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _wait_web(url: str, proc: subprocess.Popen[bytes], stop: threading.Event, timeout: float = 60.0) -> bool:
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


def _stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_up(args: argparse.Namespace) -> tuple[dict[str, Any] | None, int]:
    from oracle.node.advice import log_recommendation
    from oracle.node.logs import setup_logging
    from oracle.node.service import (
        build_loop,
        connect,
        exit_code,
        install_stop_signals,
        read_chain,
        start_exporter,
        summarize,
    )

    home = state_dir()
    home.mkdir(parents=True, exist_ok=True)
    setup_logging(home / "logs" / "oracle.log")
    if args.source:
        parse_config({"measure": {"sources": args.source}})
    stop = threading.Event()
    install_stop_signals(stop)

    anvil: Anvil | None = None
    web: subprocess.Popen[bytes] | None = None
    exporter: Any = None
    try:
        rpc_port = _pick_port(args.rpc_port, "anvil")
        # No anvil log file: anvil's start-up banner prints the dev accounts' private keys, this node's among them.
        anvil = Anvil(port=rpc_port, state_file=home / "anvil" / "state.json")
        anvil.start()
        log.info("anvil on %s (state %s)", anvil.url, anvil.state_file)
        deployment_file = default_path("ethereum:local")
        base = parse_config({})
        ensure_stack(anvil.url, deployment_file, args.epoch_seconds, base.node.hardware_class, base.node.region)
        metrics_port = (
            args.metrics_port if args.metrics_port is not None else _pick_port(DEFAULT_METRICS_PORT, "metrics")
        )
        config: NodeConfig = parse_config(
            {
                "chain": {"rpc_url": anvil.url, "deployment": str(deployment_file)},
                "key": {"account": f"dev:{NODE_DEV_INDEX}"},
                "exporter": {"port": metrics_port},
                **({"measure": {"sources": args.source}} if args.source else {}),
            }
        )
        client = connect(config)
        view = read_chain(client, config, args.epoch_seconds)
        loop = build_loop(config, client, view, config.measure.sources)
        loop.stop_event = stop
        exporter = start_exporter(loop, config.exporter.port)
        web_url = None
        if not args.no_web:
            web_port = _pick_port(args.web_port, "the web app")
            web = _start_web(web_port, deployment_file, anvil.url, home / "logs" / "web.log")
            web_url = f"http://127.0.0.1:{web_port}/"
            if not _wait_web(web_url, web, stop):
                log.warning("the web app did not start (see %s); the oracle runs without it", home / "logs" / "web.log")
                _stop_process(web)
                web, web_url = None, None
        _show_where(anvil.url, web_url, config.exporter.port, home, client.address, view)
        log_recommendation(config, log)
        result = loop.run(args.epochs)
        summary = summarize(result, client, view)
        if web is not None and args.epochs is not None and not stop.is_set():
            log.info(
                "oracle done after %d epoch(s); the web app keeps serving on %s until Ctrl-C", args.epochs, web_url
            )
            while not stop.wait(0.5):
                if web.poll() is not None:
                    log.warning("the web app exited with code %s", web.returncode)
                    break
        return summary, exit_code(summary)
    except RpcUnavailable as exc:
        raise UsageError(str(exc)) from None
    finally:
        if exporter is not None:
            exporter.close()
        _stop_process(web)
        if anvil is not None:
            anvil.stop()
            log.info("anvil stopped; chain state saved in %s", anvil.state_file)


def _show_where(rpc_url: str, web_url: str | None, metrics_port: int, home: Path, node: str, view: Any) -> None:
    lines = [
        f"chain      {rpc_url} (anvil, state in {home / 'anvil'})",
        f"node       {node}  class {view.hardware_class}, region {view.region}, epoch {view.epoch_seconds} s",
        f"web        {web_url or 'not started (--no-web)'}",
        f"metrics    {f'http://127.0.0.1:{metrics_port}/metrics' if metrics_port else 'off'}",
        f"logs       {home / 'logs'}",
        f"state      {home / 'node.db'}",
    ]
    for line in lines:
        log.info("%s", line)


