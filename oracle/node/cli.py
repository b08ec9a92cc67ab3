"""`ecoai oracle init|run|admit|status`: the oracle node's commands (`ecoai up` is oracle.app.up)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from oracle.cliargs import positive_int
from oracle.errors import UsageError
from oracle.node.config import DEFAULT_CONFIG_TEXT, ChainConfig, load_config, with_overrides
from oracle.paths import state_dir
from oracle.progress import plural

log = logging.getLogger("ecoai.oracle")


def register(subparsers: argparse._SubParsersAction) -> None:
    oracle = subparsers.add_parser(
        "oracle", help="the oracle node: measure, prove and submit every epoch",
        description="The oracle node against a deployed GreenProof: `init` writes a commented config, `admit` admits "
                    "the node (governance), `run` measures, proves and submits every epoch, `status` shows the "
                    "recorded epochs. (`ecoai up` runs all of it on a local chain.)")
    commands = oracle.add_subparsers(dest="oracle_command", metavar="SUBCOMMAND", required=True)

    init = commands.add_parser(
        "init", help="write a commented default config file",
        description="Writes the node's config file with every field at its default and a comment saying what it "
                    "does (default <state>/oracle.toml; <state> is $ECOAI_HOME or .ecoai). Every field is "
                    "optional; edit what differs, then `ecoai oracle run --config FILE`.")
    init.add_argument("--out", type=Path, default=None, help="where to write it (default <state>/oracle.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_init)

    run = commands.add_parser(
        "run", help="run the epoch loop against a deployed GreenProof",
        description="Runs the epoch loop: measures energy and work each epoch, proves the efficiency tier with "
                    "Groth16 and submits it to GreenProof (or a relay), keeping every step in <state>/node.db so "
                    "a restart resumes. Logs to stderr and <state>/logs/oracle.log; Ctrl-C or SIGTERM stops "
                    "cleanly and prints a summary (--json: one line). The node must be admitted first.")
    run.add_argument("--config", type=Path, default=None, help="config file (default: built-in defaults)")
    add_loop_flags(run)
    run.add_argument("--rpc-url", default=None, help="override chain.rpc_url")
    run.add_argument("--deployment", type=Path, default=None, help="override chain.deployment")
    run.set_defaults(handler=cmd_run)

    admit = commands.add_parser(
        "admit", help="governance: admit this node (or --node) on GreenProof, from a governor account",
        description="Governance: admits a node (the config's key.account, or --node) into the config's efficiency "
                    "class (node.class_id) and region on GreenProof, crediting --beneficiary; signed by --governor. "
                    "Prints the transaction hash; exit 1 if GreenProof refuses.",
    )
    admit.add_argument("--config", type=Path, default=None, help="the node's config (chain, class, region, key)")
    admit.add_argument(
        "--governor",
        required=True,
        help="governor account: ape:<alias> (passphrase from $ECOAI_GOVERNOR_PASSPHRASE) or dev:0 locally",
    )
    admit.add_argument("--beneficiary", required=True, help="wallet (0x address) credited for the node's epochs")
    admit.add_argument("--node", default=None, help="node address (default: the config's key.account)")
    admit.add_argument("--label", default="", help="the node's public name, shown on the leaderboard (emitted in "
                       "NodeAdmitted; governance vouches for it)")
    admit.set_defaults(handler=cmd_admit)

    status = commands.add_parser(
        "status", help="the node's recorded epochs (from <state>/node.db), newest last",
        description="One row per recorded epoch, newest last: epoch number, when the node opened it (local time), "
                    "its status, the proved tier and efficiency (µJ per unit of work), the work and energy "
                    "measured, and the transaction (or the reason, when none). Reads <state>/node.db only; no "
                    "chain access. --json: one JSON object per epoch.")
    status.add_argument("--last", type=positive_int, default=20, help="how many epochs to show (default 20)")
    status.add_argument("--json", action="store_true", help="one JSON object per line")
    status.set_defaults(handler=cmd_status)


def read_chain_config(config: Path | None, rpc_url: str | None, deployment: Path | None) -> ChainConfig:
    """The chain section of the node's config file (`--config`; None: built-in defaults), with the command
    line's --rpc-url and --deployment overrides."""
    return with_overrides(load_config(config), chain__rpc_url=rpc_url, chain__deployment=deployment).chain


def add_loop_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `ecoai oracle run` and `ecoai up` share: how long, which epoch length, which sources."""
    parser.add_argument(
        "--epochs", type=positive_int, default=None, help="stop after N epochs (default: run until stopped)"
    )
    parser.add_argument(
        "--epoch-seconds",
        type=positive_int,
        default=None,
        help="epoch length; must match GreenProof.epochLength() (`ecoai up` sets it on its local chain)",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=None,
        metavar="SOURCE",
        help="energy source (auto, nvml, rapl, cpu, replay:FILE); repeat for several",
    )
    parser.add_argument(
        "--work-source",
        action="append",
        default=None,
        metavar="SPEC",
        help="work source (vllm:URL, tgi:URL, triton:URL, prometheus:URL#METRIC@UNIT, work:NAME[@UNIT], replay); "
        "repeat for several",
    )
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary at the end")


def cmd_init(args: argparse.Namespace) -> int:
    out: Path = args.out or state_dir() / "oracle.toml"
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists (pass --force to overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(DEFAULT_CONFIG_TEXT)
    print(f"wrote {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from oracle.node.logs import setup_logging
    from oracle.node.service import build_loop, connect, install_stop_signals, read_chain, start_exporter
    from oracle.node.summary import exit_code, print_summary, summarize

    config = load_config(args.config)
    config = with_overrides(config, chain__rpc_url=args.rpc_url, chain__deployment=args.deployment)
    if args.source:
        from oracle.node.config import parse_config

        parse_config({"measure": {"sources": args.source}})  # same validation as the file
    if args.work_source:
        from oracle.node.config import parse_config

        parse_config({"measure": {"work_sources": args.work_source}})
    sources = tuple(args.source) if args.source else config.measure.sources
    if args.source or args.work_source:  # the flags get the same honesty check as the file
        from oracle.node.config import check_honest_sources

        check_honest_sources(config.chain, sources, tuple(args.work_source or config.measure.work_sources),
                             config.measure.allow_unmeasured)
    setup_logging(state_dir() / "logs" / "oracle.log")
    client = connect(config)
    view = read_chain(client, config, args.epoch_seconds)
    log.info(
        "oracle node %s (%s) on %s: class %s, region %s, epoch %d s, tiers %s µJ per %s, baseline %d",
        client.address,
        client.key.source,
        config.chain.rpc_url,
        view.class_id,
        view.region,
        view.epoch_seconds,
        view.tiers_uj_per_unit,
        view.efficiency.unit,
        view.baseline_uj_per_unit,
    )
    stop = threading.Event()
    install_stop_signals(stop)
    from oracle.node.advice import log_recommendation

    log_recommendation(config, log)
    loop = build_loop(config, client, view, sources, work_sources=tuple(args.work_source or ()) or None)
    loop.stop_event = stop
    exporter = start_exporter(loop, config.exporter.port, config.exporter.host)
    try:
        result = loop.run(args.epochs)
    finally:
        if exporter is not None:
            exporter.close()
    summary = summarize(result, client, view)
    print_summary(summary, args.json)
    return exit_code(summary)


def cmd_admit(args: argparse.Namespace) -> int:
    from web3 import Web3

    from oracle.chain.deployment import load_deployment
    from oracle.chain.governance import Governor, TransactionRejected
    from oracle.node.keys import load_key

    config = load_config(args.config)
    addresses = {}
    for name in ("beneficiary", "node"):
        value = getattr(args, name)
        if value is not None and not Web3.is_address(value):
            raise UsageError(f"--{name}: not an address: {value!r}")
        addresses[name] = value and Web3.to_checksum_address(value)
    governor = load_key(args.governor, "ECOAI_GOVERNOR_PASSPHRASE", config.chain.is_local)
    node = addresses["node"] or load_key(config.key.account, config.key.passphrase_env, config.chain.is_local,
                                          config.key.passphrase_file).address
    deployment = load_deployment(config.chain.deployment_path(), "config field chain.deployment")
    try:
        if not config.node.class_id:
            raise UsageError("config field node.class_id: needed to admit a node (e.g. \"H200/encoder-bf16/item\")")
        tx = Governor.at(config.chain.rpc_url, deployment, governor).admit_node(
            node, addresses["beneficiary"], config.node.class_id, config.node.region, args.label
        )
    except TransactionRejected as exc:
        print(f"ecoai oracle admit: GreenProof refused: {exc.reason}", file=sys.stderr)
        return 1
    print(
        f"admitted {node} ({config.node.class_id}, {config.node.region}) crediting "
        f"{addresses['beneficiary']}: tx {tx}"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from oracle.node.service import node_db_path
    from oracle.node.state import NodeState

    path = node_db_path()
    if not path.exists():
        raise UsageError(f"no node state at {path} (run `ecoai oracle run` or `ecoai up` first)")
    state = NodeState(path)
    try:
        nodes = state.nodes()
        every = sorted((r for node in nodes for r in state.all(node)), key=lambda r: (r.epoch, r.node))
    finally:
        state.close()
    records = every[-args.last :]
    times = _epoch_times(path)
    if args.json:
        for r in records:
            opened, updated = times.get((r.node, r.epoch), (None, None))
            print(json.dumps({
                "node": r.node,
                "epoch": r.epoch,
                "epoch_seconds": r.epoch_seconds,
                "opened_at": _iso(opened),
                "updated_at": _iso(updated),
                "status": r.status,
                "energy_mj": r.energy_mj,
                "work_units": r.work_total,
                "work_unit": r.work_unit,
                "energy_per_unit_uj": r.energy_per_unit_uj,
                "methods": r.methods,
                "tier": r.tier,
                "efficiency_uj_per_unit": r.efficiency_uj_per_unit,
                "footprint_mj": r.footprint_mj,
                "batch_size": r.batch_size,
                "tx_hash": r.tx_hash,
                "gas": r.gas_used,
                "note": r.note,
            }))
        return 0
    if not records:
        print(f"no epochs recorded yet in {path}")
        return 0
    print(format_status_table(records, times, several_nodes=len(nodes) > 1))
    shown = plural(len(records), "epoch")
    print(f"{shown} shown, newest last" + (f" (of {len(every)}; --last N for more)" if len(every) > len(records)
                                          else "") + f"; opened: local time the node began measuring; {path}")
    return 0


def _epoch_times(path: Path) -> dict[tuple[str, int], tuple[float | None, float | None]]:
    """(node, epoch) → (opened, last updated) in unix seconds, read-only from node.db; {} if unreadable."""
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT node, epoch, created_at, updated_at FROM node_epochs").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return {(node, int(epoch)): (created, updated) for node, epoch, created, updated in rows}


def _iso(seconds: float | None) -> str | None:
    from datetime import UTC, datetime

    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_status_table(records: list, times: dict[tuple[str, int], tuple[float | None, float | None]],
                        several_nodes: bool = False) -> str:
    """The `ecoai oracle status` table: a header row, then one row per (node,) epoch with its one status."""
    import time as _time

    header = (["NODE"] if several_nodes else []) + ["EPOCH", "OPENED", "STATUS", "TIER", "EFFICIENCY", "WORK",
                                                    "ENERGY", "TX / NOTE"]
    rows = []
    for r in records:
        opened = times.get((r.node, r.epoch), (None, None))[0]
        unit = r.work_unit or "unit"
        row = [f"{r.node[:6]}…{r.node[-4:]}"] if several_nodes else []
        row += [
            str(r.epoch),
            _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(opened)) if opened is not None else "-",
            r.status,
            str(r.tier) if r.tier is not None else "-",
            f"{r.efficiency_uj_per_unit:,} µJ/{unit}" if r.efficiency_uj_per_unit is not None else "-",
            plural(r.work_total, unit) if r.work_total is not None else "-",
            f"{r.energy_mj / 1000:,.1f} J" if r.energy_mj is not None else "-",
            r.tx_hash or r.note or "",
        ]
        rows.append(row)
    right = {"EPOCH", "TIER", "EFFICIENCY", "WORK", "ENERGY"}
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.rjust(w) if name in right else cell.ljust(w) for cell, w, name in zip(row, widths, header)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
