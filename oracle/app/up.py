"""`ecoai up`: a local anvil with persisted state, the contracts, this node admitted, the oracle, the web app.

Everything started here is stopped here, on normal exit, Ctrl-C or SIGTERM (anvil dumps its state on stop).
The pieces: oracle.app.stack (ports, processes), oracle.app.provision (deploy, admit), this module (run, summary).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from oracle.app.provision import NODE_DEV_INDEX, ensure_stack
from oracle.app.stack import pick_port, start_web, stop_process, wait_web
from oracle.chain.anvil import Anvil
from oracle.chain.deployment import default_path
from oracle.cliargs import non_negative_int, port
from oracle.errors import UsageError
from oracle.node.chain import RpcUnavailable
from oracle.node.cli import add_loop_flags
from oracle.node.config import NodeConfig, parse_config
from oracle.node.service import ChainView, node_db_path
from oracle.paths import state_dir
from oracle.progress import plural

log = logging.getLogger("ecoai.up")

DEFAULT_METRICS_PORT = 9464
UP_DESCRIPTION = """\
The whole local demo in one command, on 127.0.0.1:
  1. anvil, a local chain, on --rpc-port (default 8545), its state kept between runs;
  2. the EcoAI contracts (deployed on the first run, reused afterwards), the epoch length
     set (--epoch-seconds) and this node (anvil dev account 1, crediting dev account 2) admitted;
  3. the oracle node: measures each epoch (the replayed H200 trace unless --source/--work-source),
     proves it with Groth16 and submits it to GreenProof;
  4. the web app on --web-port (default 8000; --no-web skips it);
  5. the Prometheus exporter on --metrics-port (default 9464; 0 disables it).
A taken port is replaced by a free one; the addresses are printed at start.

State folder: $ECOAI_HOME (default .ecoai in the checkout): anvil/ (chain state),
deployments/local.json, node.db (the node's epochs; `ecoai oracle status` reads it), logs/.

Ctrl-C (or SIGTERM) stops everything cleanly: the node's state is already on disk, anvil
saves the chain (the next run reuses it), and a summary is printed (--json: one line).
With --epochs N the oracle stops after N epochs; the web app keeps serving until Ctrl-C."""


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser(
        "up", help="local chain + contracts + oracle + web app, all in one (make run)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=UP_DESCRIPTION)
    add_loop_flags(up)
    up.add_argument("--no-web", action="store_true", help="do not start the web app")
    up.add_argument("--rpc-port", type=port, default=8545, help="anvil port (default 8545; a free one if taken)")
    up.add_argument("--web-port", type=port, default=8000, help="web app port (default 8000)")
    up.add_argument("--metrics-port", type=non_negative_int, default=None,
                    help="Prometheus exporter port (default 9464; a free one if taken; 0 disables it)")
    up.set_defaults(handler=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    from oracle.node.summary import print_summary

    summary, code = run_up(args)
    if summary is not None:
        print_summary(summary, args.json)
    sys.stdout.flush()
    return code


def run_up(args: argparse.Namespace) -> tuple[dict[str, Any] | None, int]:
    from oracle.node.advice import log_recommendation
    from oracle.node.logs import setup_logging
    from oracle.node.service import build_loop, connect, install_stop_signals, read_chain, start_exporter
    from oracle.node.summary import exit_code, summarize

    home = state_dir()
    home.mkdir(parents=True, exist_ok=True)
    setup_logging(home / "logs" / "oracle.log")
    if args.source or args.work_source:
        parse_config({"measure": {**({"sources": args.source} if args.source else {}),
                                  **({"work_sources": args.work_source} if args.work_source else {})}})
    stop = threading.Event()
    install_stop_signals(stop)

    anvil: Anvil | None = None
    web: subprocess.Popen[bytes] | None = None
    exporter: Any = None
    try:
        rpc_port = pick_port(args.rpc_port, "anvil")
        # No anvil log file: anvil's start-up banner prints the dev accounts' private keys, this node's among them.
        anvil = Anvil(port=rpc_port, state_file=home / "anvil" / "state.json")
        anvil.start()
        log.info("anvil on %s (state %s)", anvil.url, anvil.state_file)
        deployment_file = default_path("ethereum:local")
        base = parse_config({})
        ensure_stack(anvil.url, deployment_file, args.epoch_seconds, base.node.hardware_class, base.node.region)
        # A first run deploys with Ape, whose import installs its own SIGINT handler over ours: without this,
        # Ctrl-C would end the process with 130 and skip the clean stop (no summary, anvil's state not dumped).
        install_stop_signals(stop)
        metrics_port = (
            args.metrics_port if args.metrics_port is not None else pick_port(DEFAULT_METRICS_PORT, "metrics")
        )
        config: NodeConfig = parse_config(
            {
                "chain": {"rpc_url": anvil.url, "deployment": str(deployment_file)},
                "key": {"account": f"dev:{NODE_DEV_INDEX}"},
                "exporter": {"port": metrics_port},
                # The local demo proves the replayed H200 trace: its energy and the items it served (labelled
                # replayed on chain); this machine's CPU estimate is not the H200's energy.
                "measure": {"sources": args.source or ["replay"],
                            **({"work_sources": args.work_source} if args.work_source else {})},
            }
        )
        client = connect(config)
        view = read_chain(client, config, args.epoch_seconds)
        loop = build_loop(config, client, view, config.measure.sources)
        loop.stop_event = stop
        exporter = start_exporter(loop, config.exporter.port)
        web_url = None
        if not args.no_web:
            web_port = pick_port(args.web_port, "the web app")
            web = start_web(web_port, deployment_file, anvil.url, home / "logs" / "web.log", node_db=node_db_path())
            web_url = f"http://127.0.0.1:{web_port}/"
            if not wait_web(web_url, web, stop):
                log.warning("the web app did not start (see %s); the oracle runs without it", home / "logs" / "web.log")
                stop_process(web)
                web, web_url = None, None
        _show_where(anvil.url, web_url, config.exporter.port, home, client.address, view)
        log_recommendation(config, log)
        log.info("measuring from the next epoch boundary (within %d s)%s; Ctrl-C stops everything", view.epoch_seconds,
                 f", {plural(args.epochs, 'epoch')}" if args.epochs is not None else "")
        result = loop.run(args.epochs)
        summary = summarize(result, client, view)
        if web is not None and args.epochs is not None and not stop.is_set():
            log.info("oracle done after %s; the web app keeps serving on %s until Ctrl-C",
                     plural(args.epochs, "epoch"), web_url)
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
        stop_process(web)
        if anvil is not None:
            anvil.stop()
            log.info("anvil stopped; chain state saved in %s", anvil.state_file)


def _show_where(
    rpc_url: str, web_url: str | None, metrics_port: int, home: Path, node: str, view: ChainView
) -> None:
    lines = [
        f"chain      {rpc_url} (anvil, state in {home / 'anvil'})",
        f"node       {node}  class {view.class_id}, region {view.region}, epoch {view.epoch_seconds} s",
        f"web        {web_url or 'not started (--no-web)'}",
        f"metrics    {f'http://127.0.0.1:{metrics_port}/metrics' if metrics_port else 'off'}",
        f"logs       {home / 'logs'}",
        f"state      {home / 'node.db'}",
    ]
    for line in lines:
        log.info("%s", line)
