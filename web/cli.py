"""`ecoai web`: the chain indexer and the dApp under uvicorn, on loopback, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from oracle.chain.deployment import default_path
from oracle.cliargs import non_negative_int, port, positive_number
from oracle.errors import UsageError
from oracle.net import can_bind
from oracle.paths import state_dir

LOCAL_CHAIN_ID = 31337  # anvil: blocks are mined on demand and never reorganised


def default_db() -> Path:
    return state_dir() / "web" / "index.sqlite"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web", help="serve the dApp: index the chain into SQLite and serve pages and the JSON API",
        description="Follows GreenProof and EcoCredit events into SQLite and serves the overview, leaderboard, "
                    "node, proof and claim pages plus /api (OpenAPI at /api/openapi.json) until SIGTERM/SIGINT.")
    parser.add_argument("--port", type=port, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--deployment", type=Path, default=None,
                        help="deployment file (default <state>/deployments/local.json)")
    parser.add_argument("--rpc-url", default="http://127.0.0.1:8545", help="JSON-RPC of the chain")
    parser.add_argument("--db", type=Path, default=None, help="index database (default <state>/web/index.sqlite)")
    parser.add_argument("--confirmations", type=non_negative_int, default=None,
                        help="blocks on top before an event is indexed (default 0 on the local dev chain "
                             f"{LOCAL_CHAIN_ID}, whose blocks are mined on demand; 3 elsewhere)")
    parser.add_argument("--poll-interval", type=positive_number, default=1.0, help="seconds between chain polls")
    parser.add_argument("--page-cache-mb", type=non_negative_int, default=64,
                        help="memory for rendered pages, replayed until the index changes (default 64; 0: render "
                             "every request)")
    parser.add_argument("--notice", default=None,
                        help="a line shown on every page, e.g. that the chain is a test network")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app
    from web.chain import load_deployment

    if not args.rpc_url.startswith(("http://", "https://")):
        raise UsageError(f"--rpc-url must be an http(s) URL, got {args.rpc_url!r}")
    deployment = load_deployment(args.deployment or default_path())
    confirmations = args.confirmations
    if confirmations is None:
        confirmations = 0 if deployment.chain_id == LOCAL_CHAIN_ID else 3
    if not can_bind(args.port, args.host):  # one clear line instead of uvicorn's traceback when the port is taken
        raise UsageError(f"cannot listen on {args.host}:{args.port}: the port is taken or the address is not local")
    db = args.db or default_db()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(db, deployment, args.rpc_url, follow=True, confirmations=confirmations,
                     poll_interval=args.poll_interval, cache_bytes=args.page_cache_mb * 1024 * 1024,
                     notice=args.notice)
    print(f"ecoai web: http://{args.host}:{args.port}/ (GreenProof {deployment.address('GreenProof')} on chain "
          f"{deployment.chain_id} via {args.rpc_url}; {confirmations} confirmations; index {db})", flush=True)
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown (the app's lifespan then stops the indexer) and
    # afterwards re-raises the signal to the handler that was installed before it: this one makes a requested
    # stop a clean exit 0 instead of death by signal.
    stop_requests: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop_requests.append(signum))
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                                           log_level="info", access_log=False, lifespan="on"))
    server.run()
    if not server.started:
        return 1  # uvicorn logged why (e.g. the app failed to start)
    print(f"ecoai web: stopped{' on ' + signal.Signals(stop_requests[0]).name if stop_requests else ''}",
          flush=True)
    return 0
