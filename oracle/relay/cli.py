"""`ecoai relay`: run a relay (HTTP intake of nodes' v2 proofs, durable queue, batched submitBatch settlement)."""

from __future__ import annotations

import argparse
import logging
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

from oracle.cliargs import non_negative_number, port, positive_int, positive_number
from oracle.errors import UsageError
from oracle.paths import state_dir

DEFAULT_PASSPHRASE_ENV = "ECOAI_RELAY_PASSPHRASE"
KEY_PATTERN = re.compile(r"^(dev:\d+|ape:[A-Za-z0-9_.-]+)$")
log = logging.getLogger("ecoai.relay")


def register(subparsers: argparse._SubParsersAction) -> None:
    relay = subparsers.add_parser(
        "relay", help="run a relay: nodes hand it v2 proofs over HTTP, it settles them in submitBatch transactions",
        description="Runs a relay: nodes (config submit.relay_url) hand it their v2 proofs over HTTP (--host, "
                    "--port); it keeps them in a durable queue (--state) and settles them in GreenProof.submitBatch "
                    "transactions of up to --batch-size epochs, paid by --key, never above the fee caps. Ctrl-C "
                    "stops it; queued proofs are kept for the next start.")
    relay.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint of the chain GreenProof is on")
    relay.add_argument("--deployment", type=Path, required=True, help="deployment file (addresses and ABIs)")
    relay.add_argument("--key", required=True,
                       help="the relayer's account, which pays the gas: ape:<alias> (passphrase from "
                            f"--passphrase-env, default ${DEFAULT_PASSPHRASE_ENV}) or dev:<n> on a local chain")
    relay.add_argument("--passphrase-env", default=DEFAULT_PASSPHRASE_ENV,
                       help="environment variable holding the Ape account's passphrase (read, then removed)")
    relay.add_argument("--passphrase-file", type=Path, default=None,
                       help="file holding the Ape account's passphrase (wins over --passphrase-env)")
    relay.add_argument("--host", default="127.0.0.1", help="address the HTTP API listens on (default 127.0.0.1)")
    relay.add_argument("--port", type=port, default=8600, help="HTTP port (default 8600)")
    relay.add_argument("--batch-size", type=positive_int, default=32, help="most epochs per transaction (default 32)")
    relay.add_argument("--interval", type=positive_number, default=60.0,
                       help="longest a queued proof waits for its batch to fill, seconds (default 60)")
    relay.add_argument("--state", type=Path, default=None, help="queue folder (default <state>/relay)")
    relay.add_argument("--max-fee-gwei", type=non_negative_number, default=50.0,
                       help="most fee per gas the relay signs (default 50)")
    relay.add_argument("--max-priority-gwei", type=non_negative_number, default=5.0,
                       help="most priority fee per gas (default 5)")
    relay.add_argument("--max-gas", type=positive_int, default=15_000_000,
                       help="most gas of one batch transaction; bigger batches are halved (default 15,000,000)")
    relay.set_defaults(handler=cmd_relay)


def _is_local(rpc_url: str, network: str) -> bool:
    from oracle.node.config import LOCAL_NETWORK, LOOPBACK_HOSTS

    return network == LOCAL_NETWORK and urlparse(rpc_url).hostname in LOOPBACK_HOSTS


def cmd_relay(args: argparse.Namespace) -> int:
    import uvicorn

    from oracle.chain.deployment import load_deployment
    from oracle.node.chain import FeeCaps
    from oracle.node.keys import load_key
    from oracle.node.logs import setup_logging
    from oracle.relay.chain import RelayChain
    from oracle.relay.queue import RelayQueue
    from oracle.relay.server import ChainViews, create_app
    from oracle.relay.settler import Settler
    from oracle.zk.artifacts import EFFICIENCY
    from oracle.zk.errors import MalformedProof
    from oracle.zk.verifier import load_verification_key

    if not KEY_PATTERN.match(args.key):
        raise UsageError(f"--key: expected dev:<n> or ape:<alias>, got {args.key!r}")
    folder = args.state or state_dir() / "relay"
    setup_logging(folder / "relay.log")
    deployment = load_deployment(args.deployment, "--deployment")
    # The key is read (and its passphrase variable removed from the environment) before anything else runs.
    key = load_key(args.key, args.passphrase_env, _is_local(args.rpc_url, deployment.network), args.passphrase_file)
    try:
        vk = load_verification_key(EFFICIENCY.verification_key)
    except MalformedProof as exc:
        raise UsageError(f"efficiency verification key: {exc}") from None
    caps = FeeCaps.from_gwei(args.max_fee_gwei, args.max_priority_gwei, args.max_gas)
    settle_chain = RelayChain(args.rpc_url, deployment, key, fee_caps=caps)
    settle_chain.check_connection()
    views = ChainViews(RelayChain(args.rpc_url, deployment, key, fee_caps=caps))
    queue = RelayQueue(folder / "relay.db")
    info = {"relayer": key.address, "contract": deployment.address("GreenProof"), "chain_id": deployment.chain_id,
            "batch_size": args.batch_size, "interval_s": args.interval}
    app = create_app(queue, vk, views, info)
    settler = Settler(queue, settle_chain, vk, args.batch_size, args.interval, max_gas=args.max_gas)
    stop = threading.Event()
    worker = threading.Thread(target=settler.run, args=(stop,), name="relay-settler", daemon=True)
    worker.start()
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                           access_log=False))
    log.info("relay on http://%s:%d: relayer %s, GreenProof %s, batches of <= %d every <= %g s, queue %s",
             args.host, args.port, key.address, info["contract"], args.batch_size, args.interval, folder / "relay.db")
    try:
        server.run()  # until SIGINT/SIGTERM
    finally:
        stop.set()
        worker.join(timeout=30)
        queue.close()
    return 0
