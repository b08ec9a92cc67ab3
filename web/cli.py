"""`ecoai web`: the chain indexer and the dApp (together, or `index` and `serve` as separate processes)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oracle.chain.deployment import default_path
from oracle.cliargs import non_negative_int, port, positive_int, positive_number
from oracle.errors import UsageError
from oracle.net import can_bind
from oracle.paths import state_dir

DEFAULT_VERIFY_CONCURRENCY = 2  # web.routes.common.DEFAULT_VERIFY_CONCURRENCY (not imported: keeps the CLI light)
LOCAL_CHAIN_ID = 31337  # anvil: blocks are mined on demand and never reorganised
WORKER_CONFIG_ENV = "ECOAI_WEB_WORKER_CONFIG"  # how `serve --workers N` hands its settings to each worker


def default_db() -> Path:
    return state_dir() / "web" / "index.sqlite"


def _database_options(parser: argparse.ArgumentParser, sub: bool) -> None:
    # In a subcommand an option left out must not reset what was given before it (`ecoai web --db X serve`).
    d = (lambda value: argparse.SUPPRESS) if sub else (lambda value: value)
    parser.add_argument("--database-url", default=d(None), metavar="URL",
                        help="the index database: postgresql://user@host/db or sqlite:///file (default: "
                             "$ECOAI_DATABASE_URL, else --db); prefer the variable, which keeps a password out of "
                             "the process list")
    parser.add_argument("--db", type=Path, default=d(None),
                        help="SQLite index file when no database URL is given (default <state>/web/index.sqlite)")
    parser.add_argument("--deployment", type=Path, default=d(None),
                        help="deployment file (default <state>/deployments/local.json)")
    parser.add_argument("--rpc-url", default=d("http://127.0.0.1:8545"), help="JSON-RPC of the chain")


def _index_options(parser: argparse.ArgumentParser, sub: bool) -> None:
    d = (lambda value: argparse.SUPPRESS) if sub else (lambda value: value)
    parser.add_argument("--confirmations", type=non_negative_int, default=d(None),
                        help="blocks on top before an event is indexed (default 0 on the local dev chain "
                             f"{LOCAL_CHAIN_ID}, whose blocks are mined on demand; 3 elsewhere)")
    parser.add_argument("--poll-interval", type=positive_number, default=d(1.0), help="seconds between chain polls")


def _serve_options(parser: argparse.ArgumentParser, sub: bool) -> None:
    d = (lambda value: argparse.SUPPRESS) if sub else (lambda value: value)
    parser.add_argument("--port", type=port, default=d(8000), help="TCP port (default 8000)")
    parser.add_argument("--host", default=d("127.0.0.1"), help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--page-cache-mb", type=non_negative_int, default=d(64),
                        help="memory for rendered pages, replayed until the index changes (default 64; 0: render "
                             "every request)")
    parser.add_argument("--notice", default=d(None),
                        help="a line shown on every page, e.g. that the chain is a test network")
    parser.add_argument("--verify-concurrency", type=positive_int, default=d(DEFAULT_VERIFY_CONCURRENCY),
                        metavar="N",
                        help="\"verify again\" runs at most N proof verifications at once per server process "
                             f"(~0.7 s of CPU each); more are answered 429 with Retry-After (default "
                             f"{DEFAULT_VERIFY_CONCURRENCY})")
    parser.add_argument("--node-db", type=Path, action="append", default=d(None), dest="node_db", metavar="PATH",
                        help="a node's state database (node.db), read read-only: the node pages show that node's "
                             "own footprint (energy spent sampling and proving, reported off chain); repeatable")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "web", help="serve the dApp: index the chain into a database and serve pages and the JSON API",
        description="Follows GreenProof and EcoCredit events into the index database (SQLite by default, or "
                    "PostgreSQL) and serves the overview, leaderboard, node, proof and claim pages plus /api "
                    "(OpenAPI at /api/openapi.json) until SIGTERM/SIGINT. Alone, `ecoai web` indexes and serves in "
                    "one process; `ecoai web index` and `ecoai web serve` run the two halves separately.")
    _database_options(parser, sub=False)
    _index_options(parser, sub=False)
    _serve_options(parser, sub=False)
    parser.set_defaults(handler=run, web_command=None, workers=1, health_port=None, health_host="127.0.0.1")
    commands = parser.add_subparsers(dest="web_command", metavar="{serve,index}")
    serve = commands.add_parser("serve", help="serve pages and the API from the index (no indexing)",
                                description="Serves the dApp from the index database that `ecoai web index` "
                                            "fills; --workers N processes share the port.")
    _database_options(serve, sub=True)
    _serve_options(serve, sub=True)
    serve.add_argument("--workers", type=positive_int, default=1, help="server processes (default 1)")
    index = commands.add_parser("index", help="follow the chain into the index database (no pages)",
                                description="Follows the chain into the index database. Exactly one indexer "
                                            "writes: a second one waits for the lock held by the first.")
    _database_options(index, sub=True)
    _index_options(index, sub=True)
    index.add_argument("--health-port", type=port, default=None,
                       help="also answer GET /healthz (JSON: indexed block, lock) on this loopback port")
    index.add_argument("--health-host", default="127.0.0.1", help="address of --health-port (default 127.0.0.1)")


def _database(args: argparse.Namespace):  # -> web.db.engine.Database
    from web.db.engine import resolve_database

    return resolve_database(args.database_url, args.db, default_db())


def _chain_settings(args: argparse.Namespace):  # -> (Deployment, confirmations)
    from oracle.chain.deployment import load_deployment

    if not args.rpc_url.startswith(("http://", "https://")):
        raise UsageError(f"--rpc-url must be an http(s) URL, got {args.rpc_url!r}")
    deployment = load_deployment(args.deployment or default_path(), "--deployment")
    confirmations = getattr(args, "confirmations", None)
    if confirmations is None:
        confirmations = 0 if deployment.chain_id == LOCAL_CHAIN_ID else 3
    return deployment, confirmations


def run(args: argparse.Namespace) -> int:
    if args.web_command == "index":
        return run_index(args)
    if args.web_command == "serve":
        return run_serve(args)
    return run_both(args)


def _check_port(args: argparse.Namespace) -> None:
    if not can_bind(args.port, args.host):  # one clear line instead of uvicorn's traceback when the port is taken
        raise UsageError(f"cannot listen on {args.host}:{args.port}: the port is taken or the address is not local")


def _stop_on_signals() -> list[int]:
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown (the app's lifespan then stops the indexer) and
    # afterwards re-raises the signal to the handler that was installed before it: this one makes a requested
    # stop a clean exit 0 instead of death by signal.
    stop_requests: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop_requests.append(signum))
    return stop_requests


def _stopped(stop_requests: list[int]) -> None:
    print(f"ecoai web: stopped{' on ' + signal.Signals(stop_requests[0]).name if stop_requests else ''}",
          flush=True)


def run_both(args: argparse.Namespace) -> int:
    """Today's `ecoai web`: one process indexes (a background thread) and serves."""
    import uvicorn

    from web.app import create_app

    deployment, confirmations = _chain_settings(args)
    _check_port(args)
    db = _database(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(db, deployment, args.rpc_url, follow=True, confirmations=confirmations,
                     poll_interval=args.poll_interval, cache_bytes=args.page_cache_mb * 1024 * 1024,
                     notice=args.notice, verify_concurrency=args.verify_concurrency, node_dbs=args.node_db or ())
    print(f"ecoai web: http://{args.host}:{args.port}/ (GreenProof {deployment.address('GreenProof')} on chain "
          f"{deployment.chain_id} via {args.rpc_url}; {confirmations} confirmations; index {db.display})", flush=True)
    stop_requests = _stop_on_signals()
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                                           log_level="info", access_log=False, lifespan="on"))
    server.run()
    if not server.started:
        return 1  # uvicorn logged why (e.g. the app failed to start)
    _stopped(stop_requests)
    return 0


def worker_app():  # -> FastAPI; uvicorn's factory in each `serve --workers N` process
    """The app of one serve worker, from the settings its parent put in the environment (not argv)."""
    from web.app import create_app
    from oracle.chain.deployment import load_deployment
    from web.db.engine import DATABASE_URL_ENV

    config: dict[str, Any] = json.loads(os.environ[WORKER_CONFIG_ENV])
    deployment = load_deployment(Path(config["deployment"]), "--deployment") if config["deployment"] else None
    return create_app(os.environ[DATABASE_URL_ENV], deployment, config["rpc_url"] if deployment else None,
                      cache_bytes=config["cache_bytes"], notice=config["notice"], migrate=False,
                      verify_concurrency=config["verify_concurrency"], node_dbs=config["node_dbs"])


def run_serve(args: argparse.Namespace) -> int:
    """`ecoai web serve`: pages and the API from the index, in --workers processes; the index is upgraded once,
    here, before any worker opens it."""
    import uvicorn

    from web.db.engine import DATABASE_URL_ENV

    deployment_path = args.deployment or default_path()
    deployment = None
    if deployment_path.exists() or args.deployment is not None:
        deployment, _ = _chain_settings(args)
    _check_port(args)
    db = _database(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    db.upgrade()
    db.dispose()
    os.environ[DATABASE_URL_ENV] = db.url.render_as_string(hide_password=False)
    os.environ[WORKER_CONFIG_ENV] = json.dumps({
        "deployment": str(deployment_path) if deployment is not None else None, "rpc_url": args.rpc_url,
        "cache_bytes": args.page_cache_mb * 1024 * 1024, "notice": args.notice,
        "verify_concurrency": args.verify_concurrency, "node_dbs": [str(p) for p in args.node_db or ()]})
    print(f"ecoai web serve: http://{args.host}:{args.port}/ ({args.workers} worker"
          f"{'s' if args.workers > 1 else ''}; index {db.display})", flush=True)
    stop_requests = _stop_on_signals()
    uvicorn.run("web.cli:worker_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                loop="uvloop", http="httptools", log_level="info", access_log=False, lifespan="on")
    _stopped(stop_requests)
    return 0


def run_index(args: argparse.Namespace) -> int:
    """`ecoai web index`: follow the chain into the index until SIGTERM/SIGINT; waits while another indexer
    holds the lock."""
    from web.chain import Chain
    from web.indexer import Indexer

    deployment, confirmations = _chain_settings(args)
    if args.health_port is not None and not can_bind(args.health_port, args.health_host):
        raise UsageError(f"cannot listen on {args.health_host}:{args.health_port}: the port is taken")
    db = _database(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    indexer = Indexer(db, Chain.connect(deployment, args.rpc_url), confirmations=confirmations)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop.set())
    health = _health_server(indexer, args.health_host, args.health_port) if args.health_port is not None else None
    print(f"ecoai web index: following GreenProof {deployment.address('GreenProof')} on chain {deployment.chain_id} "
          f"via {args.rpc_url}; {confirmations} confirmations; index {db.display}"
          + (f"; /healthz on http://{args.health_host}:{args.health_port}/healthz" if health else ""), flush=True)
    try:
        indexer.run(stop, args.poll_interval)
    finally:
        if health is not None:
            health.shutdown()
        indexer.close()
    print("ecoai web index: stopped", flush=True)
    return 0


def _health_server(indexer, host: str, health_port: int) -> ThreadingHTTPServer:
    """GET /healthz → the indexer's progress as JSON (what the dApp's /healthz says of an in-process indexer)."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0] != "/healthz":
                self.send_error(404)
                return
            status = indexer.status
            body = json.dumps({"status": "ok", "indexed_block": status.indexed_block,
                               "head_block": status.head_block, "lock_held": indexer.lock.held,
                               "waiting_for": status.waiting_for, "last_error": status.last_error,
                               "reorgs": status.reorgs, "chain_id": indexer.chain.chain_id}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # polled often: not worth a log line each
            pass

    server = ThreadingHTTPServer((host, health_port), Health)
    threading.Thread(target=server.serve_forever, name="ecoai-index-health", daemon=True).start()
    return server
