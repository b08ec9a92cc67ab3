"""A fleet of oracle nodes on one machine: N real `ecoai oracle run` processes against one anvil, one indexer and
the web app, for a few minutes; prints what the fleet achieved and what each process cost.

    .venv/bin/python bench/fleet.py [--nodes 8] [--minutes 3] [--backend postgres|sqlite] [--epoch-seconds 20]
                                    [--web-workers 1] [--index-poll 1.0] [--keep]

Every process is real and on loopback: anvil (oracle.chain.anvil.Anvil), the contracts deployed with Ape
(deploy_local, epoch length --epoch-seconds), N nodes admitted with a public label (anvil dev accounts 1..N, each
with its own ECOAI_HOME state folder and config), each proving the REPLAYED real H200 trace (energy and
items served) from a different offset into the trace — labelled replayed on chain and in their labels, never
measured —, one `ecoai web index` (PostgreSQL: a throw-away server of tests/web/postgres.py, or a SQLite file)
and one `ecoai web serve --workers W` on the same database.

What it prints (a readable table, then JSON lines `{"bench": "fleet", "kind": ...}`):
- per node: epochs closed / proved / accepted / not proved (over budget, zero work, incomplete) / failed /
  pending at stop, proving time;
- latency from the epoch's end (GreenProof.epochBounds) to "accepted": the block timestamp of the submit
  (1-s resolution, anvil's clock) and the node's own record (node.db `updated_at` when the harness first saw
  status accepted); and to "visible on the leaderboard" (first poll of GET /api/leaderboard in which the node's
  `last_epoch` reached the epoch; poll every --web-poll s): p50/p99 over all nodes;
- gas per accepted epoch (eth_getTransactionReceipt of each submit);
- per role (anvil, node-i incl. its prover worker, indexer, web, postgres, this harness): CPU seconds (user +
  system) over the measured window and since start, peak RSS (sum over the role's process tree, sampled every
  second: shared pages are counted once per process), via psutil;
- the indexer: events on chain in the window, events/s sustained, CPU ms per event; and a catch-up run after
  the fleet stops (a fresh database, a fresh `ecoai web index` from the deployment block) that shows how fast it
  indexes when it is not waiting for the chain;
- the database: rows and bytes per table (PostgreSQL: pg_total_relation_size), bytes per indexed proof.

Run time: --minutes of measured window after every node has opened its first epoch, plus start-up (deploy,
PostgreSQL, ~8 Python start-ups: about a minute on 2 shared cores) and shut-down (bounded waits). Everything it
starts it stops: on normal exit, on an exception and on Ctrl-C/SIGTERM (process groups; leftovers killed by pid).
Heavy: N provers on a small machine. Run it when the machine is otherwise quiet, and read its load figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests" / "web"))  # postgres.py: the throw-away server the web tests use too

import psutil  # noqa: E402

from oracle.chain.anvil import Anvil  # noqa: E402
from oracle.chain.keys import DEV_ACCOUNT_COUNT, dev_account  # noqa: E402
from oracle.childenv import child_env  # noqa: E402
from oracle.net import free_port  # noqa: E402
from oracle.paths import NODE_BIN  # noqa: E402

DEMO_CLASS = "H200/encoder-bf16/item"  # the replayed demo class of oracle/chain/default_params.toml
REGION = "KR"
WARM_UP_S = 20.0  # the replayed trace's first ~18 s are the warm-up before the recorded load
NOT_PROVED = ("over_budget", "zero_work", "below_minimum", "incomplete")
PROVED = ("proved", "sending", "accepted", "handed_over")


class Stop(Exception):
    """SIGTERM: unwind through every finally block like Ctrl-C does."""


# ---------------------------------------------------------------- processes and their resource use


@dataclass
class Role:
    """One role (anvil, node-3, indexer, ...): its root process and every descendant seen while sampling."""

    name: str
    root: int
    cpu_start: dict[tuple[int, float], float] = field(default_factory=dict)  # (pid, create_time) → cpu s at t0
    cpu_last: dict[tuple[int, float], float] = field(default_factory=dict)   # latest cpu s seen
    names: dict[tuple[int, float], str] = field(default_factory=dict)
    peak_rss: int = 0
    window_open: bool = False
    tree: bool = True  # the harness counts itself only: its children are the other roles

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root)
            return [root, *root.children(recursive=True)] if self.tree else [root]
        except psutil.Error:
            return []

    def sample(self) -> None:
        rss = 0
        for proc in self.processes():
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    t = proc.cpu_times()
                    cpu = t.user + t.system
                    rss += proc.memory_info().rss
                    if key not in self.names:
                        self.names[key] = proc.name()
            except psutil.Error:
                continue
            self.cpu_last[key] = cpu
            if self.window_open and key not in self.cpu_start:
                self.cpu_start[key] = 0.0  # born inside the window: all its CPU belongs to the window
        self.peak_rss = max(self.peak_rss, rss)

    def open_window(self) -> None:
        self.sample()
        self.cpu_start = dict(self.cpu_last)
        self.window_open = True

    def cpu_total(self) -> float:
        return sum(self.cpu_last.values())

    def cpu_window(self) -> float:
        return sum(cpu - self.cpu_start.get(key, 0.0) for key, cpu in self.cpu_last.items())

    def cpu_by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, cpu in self.cpu_last.items():
            name = self.names.get(key, "?")
            out[name] = out.get(name, 0.0) + cpu - self.cpu_start.get(key, 0.0)
        return {k: round(v, 2) for k, v in out.items()}

    def pids(self) -> set[tuple[int, float]]:
        return set(self.cpu_last)


def kill_leftovers(keys: set[tuple[int, float]]) -> None:
    """SIGKILL each process we recorded (pid + creation time, so a recycled pid is never hit) still alive."""
    for pid, created in keys:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) < 0.01:
                proc.kill()
        except psutil.Error:
            pass


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM the leader (a graceful stop), then SIGKILL its whole process group if it lingers."""
    if proc is None:
        return
    if proc.poll() is None:
        if not getattr(proc, "fleet_signalled", False):  # one SIGTERM only: a second one may cut a clean stop
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            proc.fleet_signalled = True  # type: ignore[attr-defined]
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group: the prover worker, uvicorn's workers
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM once (the node finishes its step and prints its summary); stop_group then waits."""
    if proc is None or proc.poll() is not None or getattr(proc, "fleet_signalled", False):
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    proc.fleet_signalled = True  # type: ignore[attr-defined]


def http_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
               interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {proc.returncode}")
        try:
            value = predicate()
        except (OSError, ValueError, sqlite3.Error):
            value = None
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_s": percentile(values, 0.5), "p99_s": percentile(values, 0.99),
            "max_s": round(max(values), 3) if values else None,
            "mean_s": round(statistics.fmean(values), 3) if values else None}


# ---------------------------------------------------------------- the fleet


@dataclass
class Node:
    index: int
    address: str
    home: Path
    offset_s: float
    label: str
    proc: subprocess.Popen[bytes] | None = None
    role: Role | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    accepted_at: dict[int, float] = field(default_factory=dict)   # node.db updated_at when first seen accepted
    visible_at: dict[int, float] = field(default_factory=dict)    # harness time of first leaderboard sighting
    last_visible: int | None = None
    exit_code: int | None = None
    summary: dict[str, Any] | None = None


def write_node_config(node: Node, rpc_url: str, deployment: Path) -> Path:
    text = f"""# bench/fleet.py node {node.index}: anvil dev account {node.index}, the replayed H200 trace from {node.offset_s:.1f} s
[chain]
rpc_url = "{rpc_url}"
deployment = "{deployment}"

[key]
account = "dev:{node.index}"

[node]
hardware_class = "H200"
region = "{REGION}"
class_id = "{DEMO_CLASS}"

[measure]
sources = ["replay"]
work_sources = ["replay"]
replay_offset_s = {node.offset_s:.1f}

[exporter]
port = 0

[submit]
max_backoff_s = 2.0
"""
    path = node.home / "oracle.toml"
    path.write_text(text)
    return path


def read_node_db(node: Node) -> None:
    path = node.home / "node.db"
    if not path.exists():
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT epoch, status, tx_hash, gas_used, block, prove_seconds, updated_at, created_at, "
                          "batch_size, note FROM node_epochs WHERE node = ?", (node.address,)).fetchall()
    finally:
        db.close()
    for row in rows:
        record = dict(row)
        node.rows[record["epoch"]] = record
        if record["status"] == "accepted" and record["epoch"] not in node.accepted_at:
            node.accepted_at[record["epoch"]] = float(record["updated_at"])


def main() -> int:
    parser = argparse.ArgumentParser(description="A fleet of real oracle nodes against one anvil, one indexer "
                                     "and the web app on loopback, measured for a few minutes (see the module "
                                     "docstring and docs/fleet.md).")
    parser.add_argument("--nodes", type=int, default=8, help=f"oracle nodes (1..{DEV_ACCOUNT_COUNT - 1}: anvil's "
                        "dev accounts 1..N; account 0 deploys and governs); default 8")
    parser.add_argument("--minutes", type=float, default=3.0, help="measured window (default 3)")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres",
                        help="index database (default postgres: a throw-away server on loopback)")
    parser.add_argument("--epoch-seconds", type=int, default=20,
                        help="GreenProof's epoch length for this run (default 20: 8 provers at ~2 CPU s per proof "
                             "keep up on 2 shared cores; ~9 epochs per node in 3 min)")
    parser.add_argument("--web-workers", type=int, default=1, help="`ecoai web serve --workers` (default 1)")
    parser.add_argument("--index-poll", type=float, default=1.0, help="`ecoai web index --poll-interval` (default 1)")
    parser.add_argument("--web-poll", type=float, default=0.25, help="seconds between leaderboard polls")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, node.db files)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON lines to this file")
    args = parser.parse_args()
    if not 1 <= args.nodes <= DEV_ACCOUNT_COUNT - 1:
        parser.error(f"--nodes must be 1..{DEV_ACCOUNT_COUNT - 1} (anvil's dev accounts)")
    if args.minutes <= 0 or args.epoch_seconds < 2:
        parser.error("--minutes must be > 0 and --epoch-seconds >= 2")

    def on_term(signum: int, frame: object) -> None:
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="ecoai-fleet-"))
    os.environ["ECOAI_HOME"] = str(work / "harness")  # nothing of ours lands in the checkout's .ecoai
    os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    print(f"fleet: {args.nodes} nodes, {args.minutes} min, {args.backend}, {args.epoch_seconds}-s epochs; work "
          f"folder {work}", flush=True)
    fleet = Fleet(args, work)
    try:
        return fleet.run()
    except (KeyboardInterrupt, Stop):
        print("fleet: interrupted; stopping everything it started", file=sys.stderr, flush=True)
        return 130
    finally:
        fleet.shutdown()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"fleet: kept {work}", flush=True)


class Fleet:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.anvil: Anvil | None = None
        self.pg: Any = None
        self.indexer: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.catchup: subprocess.Popen[bytes] | None = None
        self.nodes: list[Node] = []
        self.roles: dict[str, Role] = {}
        self.recorded: set[tuple[int, float]] = set()
        self.lines: list[dict[str, Any]] = []

    # ------------------------------------------------------------ start

    def spawn(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        full = {**child_env(), "PATH": os.environ["PATH"], **(env or {})}
        with open(log, "ab") as out:
            return subprocess.Popen(argv, cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def ecoai(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "oracle.app.cli", *args]

    def add_role(self, name: str, pid: int, tree: bool = True) -> Role:
        role = Role(name, pid, tree=tree)
        role.sample()
        self.roles[name] = role
        return role

    def run(self) -> int:
        args, work = self.args, self.work
        t_begin = time.monotonic()
        self.add_role("harness", os.getpid(), tree=False)
        # 1. the chain. No anvil log file: its banner prints the dev accounts' private keys.
        self.anvil = Anvil()
        self.anvil.start()
        self.add_role("anvil", self.anvil.process.pid)  # type: ignore[union-attr]
        rpc = self.anvil.url
        deployment_file = work / "deployment.json"
        deployment = self.deploy(rpc, deployment_file)
        from web3 import Web3

        self.w3 = Web3(Web3.HTTPProvider(rpc))
        self.green = deployment.green_proof(self.w3)
        self.deployment = deployment
        # 2. the nodes' identities, admitted with a label that says what they measure
        lap_s = self.trace_lap()
        span = lap_s - WARM_UP_S - 1.0
        from oracle.chain.deploy import admit_node

        for i in range(1, args.nodes + 1):
            offset = WARM_UP_S + (i - 1) * span / args.nodes
            node = Node(i, dev_account(i).address, work / f"node-{i}", offset,
                        f"fleet-{i} replayed H200 trace @{offset:.0f}s (bench)")
            node.home.mkdir(parents=True)
            beneficiary = Web3.to_checksum_address(f"0x{0xFEE1 * 0x10000 + i:040x}")
            admit_node(deployment, rpc, node.address, beneficiary, DEMO_CLASS, REGION, node.label)
            self.nodes.append(node)
        # 3. the index database
        if args.backend == "postgres":
            from postgres import TempPostgres

            self.pg = TempPostgres().start()
            database_url = self.pg.create_database("fleet")
            self.add_role("postgres", self.postmaster_pid())
        else:
            database_url = f"sqlite:///{work / 'index.sqlite'}"
        db_env = {"ECOAI_DATABASE_URL": database_url}  # the variable, as `ecoai web --help` advises
        common = ["--deployment", str(deployment_file), "--rpc-url", rpc]
        # 4. one indexer (it upgrades the schema), then the web app reading the same database
        health = free_port()
        self.indexer = self.spawn(self.ecoai("web", "index", *common, "--poll-interval", str(args.index_poll),
                                             "--health-port", str(health)), work / "indexer.log", db_env)
        self.index_health = f"http://127.0.0.1:{health}/healthz"
        wait_until(lambda: http_json(self.index_health)["indexed_block"] is not None, 120, "the indexer",
                   self.indexer)
        self.add_role("indexer", self.indexer.pid)
        web_port = free_port()
        self.web = self.spawn(self.ecoai("web", "serve", *common, "--port", str(web_port), "--workers",
                                         str(args.web_workers)), work / "web.log", db_env)
        self.web_url = f"http://127.0.0.1:{web_port}"
        wait_until(lambda: http_json(self.web_url + "/healthz")["status"] == "ok", 120, "the web app", self.web)
        time.sleep(1.0)
        self.add_role("web", self.web.pid)
        # 5. the nodes, each with its own state folder
        for node in self.nodes:
            config = write_node_config(node, rpc, deployment_file)
            node.proc = self.spawn(self.ecoai("oracle", "run", "--config", str(config), "--json"),
                                   node.home / "stderr.log", {"ECOAI_HOME": str(node.home)})
            node.role = self.add_role(f"node-{node.index}", node.proc.pid)
        startup_s = time.monotonic() - t_begin
        print(f"fleet: anvil {rpc}, {args.backend} index, web {self.web_url}; {args.nodes} nodes starting "
              f"({startup_s:.0f} s so far)", flush=True)
        # 6. the window opens once every node has opened an epoch
        def all_open() -> bool:
            for node in self.nodes:
                if node.proc.poll() is not None:  # type: ignore[union-attr]
                    raise RuntimeError(f"node {node.index} exited with code {node.proc.returncode} at start "
                                       f"(see {node.home / 'stderr.log'})")
                read_node_db(node)
            self.sample_all()
            return all(node.rows for node in self.nodes)

        wait_until(all_open, 240, "every node's first epoch", interval=1.0)
        for role in self.roles.values():
            role.open_window()
        load_start = os.getloadavg()
        t0_wall, t0 = time.time(), time.monotonic()
        block0 = self.w3.eth.block_number
        print(f"fleet: every node is measuring; window of {args.minutes} min starts (load {load_start[0]:.1f})",
              flush=True)
        deadline = t0 + args.minutes * 60
        next_db = next_report = 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            self.poll_leaderboard()
            if now >= next_db:
                next_db = now + 1.0
                for node in self.nodes:
                    with contextlib.suppress(sqlite3.Error):
                        read_node_db(node)
                    if node.proc.poll() is not None and node.exit_code is None:  # type: ignore[union-attr]
                        node.exit_code = node.proc.returncode  # type: ignore[union-attr]
                        print(f"fleet: node {node.index} exited early with code {node.exit_code}", flush=True)
                self.sample_all()
            if now >= next_report:
                next_report = now + 30.0
                accepted = sum(len(n.accepted_at) for n in self.nodes)
                print(f"fleet: {now - t0:5.0f} s: {accepted} epochs accepted, load {os.getloadavg()[0]:.1f}",
                      flush=True)
            time.sleep(args.web_poll)
        window_s = time.monotonic() - t0
        t1_wall = time.time()
        load_end = os.getloadavg()
        # 7. stop the nodes (graceful: each finishes its step and prints its summary), then let the index catch up
        self.sample_all()
        node_cpu_window = {n.index: n.role.cpu_window() for n in self.nodes}  # type: ignore[union-attr]
        for node in self.nodes:
            terminate(node.proc)
        for node in self.nodes:
            stop_group(node.proc, 30)
            node.exit_code = node.proc.returncode  # type: ignore[union-attr]
            node.summary = self.node_summary(node)
            with contextlib.suppress(sqlite3.Error):
                read_node_db(node)
        head = self.w3.eth.block_number
        with contextlib.suppress(RuntimeError):
            wait_until(lambda: (http_json(self.index_health)["indexed_block"] or 0) >= head, 30,
                       "the indexer to reach the head")
        grace = time.monotonic() + max(3.0, 2 * args.index_poll)
        while time.monotonic() < grace:
            self.poll_leaderboard()
            time.sleep(args.web_poll)
        self.sample_all()
        for role in self.roles.values():
            role.window_open = False  # figures below are taken; later processes are not the fleet's
        measures = self.measure(block0, t0_wall, t1_wall, window_s, node_cpu_window, load_start, load_end,
                                startup_s, database_url)
        self.report(measures)
        return 0

    def deploy(self, rpc: str, out: Path):  # -> Deployment
        import dataclasses

        from oracle.chain.deploy import deploy_local, load_params

        params = dataclasses.replace(load_params(), epoch_length_s=self.args.epoch_seconds)
        with open(self.work / "deploy.log", "a") as log, contextlib.redirect_stdout(log):
            deployment = deploy_local(rpc, params, out)
        # Importing Ape installs its own SIGINT handler: Ctrl-C must reach our finally blocks.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return deployment

    @staticmethod
    def trace_lap() -> float:
        from oracle.measure.replay import ReplaySource

        return ReplaySource().lap_s

    def postmaster_pid(self) -> int:
        return int((self.pg.dir / "data" / "postmaster.pid").read_text().split()[0])

    def sample_all(self) -> None:
        for role in self.roles.values():
            role.sample()
            self.recorded |= role.pids()

    def poll_leaderboard(self) -> None:
        try:
            board = http_json(f"{self.web_url}/api/leaderboard?sort=proofs&size=100", timeout=2.0)
        except (OSError, ValueError):
            return
        seen = time.time()
        by_address = {row["node"].lower(): row for row in board["nodes"]}
        for node in self.nodes:
            row = by_address.get(node.address.lower())
            if row is None or row["last_epoch"] is None:
                continue
            last = int(row["last_epoch"])
            if node.last_visible is None or last > node.last_visible:
                node.visible_at.setdefault(last, seen)
                node.last_visible = last

    @staticmethod
    def node_summary(node: Node) -> dict[str, Any] | None:
        out = (node.home / "stderr.log").read_text(errors="replace").strip().splitlines()
        for line in reversed(out):
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    return json.loads(line)
        return None

    # ------------------------------------------------------------ figures

    def epoch_end(self, epoch: int, cache: dict[int, int]) -> int:
        if epoch not in cache:
            cache[epoch] = int(self.green.functions.epochBounds(epoch).call()[1])
        return cache[epoch]

    def measure(self, block0: int, t0_wall: float, t1_wall: float, window_s: float,
                node_cpu_window: dict[int, float], load_start: tuple[float, ...], load_end: tuple[float, ...],
                startup_s: float, database_url: str) -> dict[str, Any]:
        ends: dict[int, int] = {}
        receipts: dict[str, Any] = {}
        block_time: dict[int, int] = {}
        lat_chain: list[float] = []
        lat_node: list[float] = []
        lat_visible: list[float] = []
        gas: list[int] = []
        per_node = []
        for node in self.nodes:
            statuses: dict[str, int] = {}
            for rec in node.rows.values():
                statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
            accepted = [r for r in node.rows.values() if r["status"] == "accepted"]
            n_chain, n_node, n_vis = [], [], []
            for rec in accepted:
                end = self.epoch_end(rec["epoch"], ends)
                tx = rec["tx_hash"]
                if tx not in receipts:
                    receipts[tx] = self.w3.eth.get_transaction_receipt(tx)
                receipt = receipts[tx]
                if receipt.blockNumber not in block_time:
                    block_time[receipt.blockNumber] = int(self.w3.eth.get_block(receipt.blockNumber).timestamp)
                n_chain.append(block_time[receipt.blockNumber] - end)
                if rec["epoch"] in node.accepted_at:
                    n_node.append(node.accepted_at[rec["epoch"]] - end)
                if rec["epoch"] in node.visible_at:
                    n_vis.append(node.visible_at[rec["epoch"]] - end)
            lat_chain += n_chain
            lat_node += n_node
            lat_visible += n_vis
            prove = [r["prove_seconds"] for r in node.rows.values() if r["prove_seconds"] is not None]
            closed = sum(c for s, c in statuses.items() if s != "open")
            proved = sum(c for s, c in statuses.items() if s in PROVED)
            role = node.role
            by_name = role.cpu_by_name() if role else {}
            per_node.append({
                "node": node.index, "address": node.address, "label": node.label, "replay_offset_s":
                round(node.offset_s, 1), "energy": "replayed", "work": "replayed",
                "epochs_closed": closed,
                "proved": proved,
                "accepted": statuses.get("accepted", 0),
                "not_proved": {s: statuses[s] for s in NOT_PROVED if s in statuses},
                "failed": statuses.get("failed", 0),
                "pending_at_stop": sum(statuses.get(s, 0) for s in ("proving", "proved", "sending")),
                "statuses": statuses,
                "prove_s_p50": percentile(prove, 0.5), "prove_s_max": round(max(prove), 2) if prove else None,
                "accept_latency_chain_p50_s": percentile(n_chain, 0.5),
                "visible_latency_p50_s": percentile(n_vis, 0.5),
                "visible_samples": len(n_vis),
                "cpu_window_s": round(node_cpu_window[node.index], 2),
                "cpu_by_process": by_name,
                "cpu_per_closed_epoch_s": round(node_cpu_window[node.index] / closed, 3) if closed else None,
                # the prover worker (Node.js, snarkjs) vs the node's Python process (sampler, loop, RPC)
                "prover_cpu_s": by_name.get("node"), "main_cpu_s": by_name.get("python"),
                "prover_cpu_per_proof_s": round(by_name["node"] / proved, 3) if proved and "node" in by_name
                else None,
                "main_cpu_per_s": round(by_name["python"] / window_s, 4) if "python" in by_name else None,
                "peak_rss_mb": round(role.peak_rss / 2**20, 1) if role else None,
                "exit_code": node.exit_code,
            })
        # gas per accepted epoch: each transaction's gas over the epochs it settled
        epochs_by_tx: dict[str, int] = {}
        for node in self.nodes:
            for rec in node.rows.values():
                if rec["status"] == "accepted":
                    epochs_by_tx[rec["tx_hash"]] = epochs_by_tx.get(rec["tx_hash"], 0) + 1
        for tx, count in epochs_by_tx.items():
            gas += [receipts[tx].gasUsed / count] * count
        accepted_total = len(gas)
        # the indexer: events emitted by our contracts in the window, and the indexer's CPU in it
        addresses = [self.deployment.address(name) for name in ("GreenProof", "EcoCredit", "RetirementCertificate")
                     if name in self.deployment.contracts]
        head = self.w3.eth.block_number
        logs_window = self.w3.eth.get_logs({"fromBlock": block0 + 1, "toBlock": head, "address": addresses})
        logs_all = self.w3.eth.get_logs({"fromBlock": self.deployment.block, "toBlock": head,
                                         "address": addresses})
        in_window = [lg for lg in logs_window
                     if t0_wall <= self.block_ts(lg["blockNumber"], block_time) <= t1_wall]
        indexer_cpu = self.roles["indexer"].cpu_window()
        indexer = {"events_in_window": len(in_window), "events_total": len(logs_all),
                   "events_per_s_sustained": round(len(in_window) / window_s, 3),
                   "cpu_window_s": round(indexer_cpu, 2),
                   "cpu_ms_per_event": round(1000 * indexer_cpu / len(in_window), 2) if in_window else None,
                   "poll_interval_s": self.args.index_poll}
        database = self.database_figures(database_url)
        roles = []
        for name, role in self.roles.items():
            roles.append({"role": name, "cpu_window_s": round(role.cpu_window(), 2),
                          "cpu_total_s": round(role.cpu_total(), 2),
                          "cpu_share_of_window": round(role.cpu_window() / window_s, 3),
                          "peak_rss_mb": round(role.peak_rss / 2**20, 1), "processes": len(role.pids())})
        catchup = self.catchup_run(database_url, len(logs_all))
        return {"per_node": per_node, "roles": roles, "indexer": indexer, "database": database,
                "catchup": catchup, "window_s": round(window_s, 1), "startup_s": round(startup_s, 1),
                "accepted_total": accepted_total,
                "latency_accept_chain": summary(lat_chain), "latency_accept_node": summary(lat_node),
                "latency_visible": summary(lat_visible),
                "gas_per_accepted_epoch": {"n": len(gas), "mean": round(statistics.fmean(gas)) if gas else None,
                                           "min": round(min(gas)) if gas else None,
                                           "max": round(max(gas)) if gas else None,
                                           "p50": round(percentile(gas, 0.5)) if gas else None},
                "load_avg_1m_start": round(load_start[0], 2), "load_avg_1m_end": round(load_end[0], 2),
                "cpus": os.cpu_count()}

    def block_ts(self, number: int, cache: dict[int, int]) -> int:
        if number not in cache:
            cache[number] = int(self.w3.eth.get_block(number).timestamp)
        return cache[number]

    def database_figures(self, database_url: str) -> dict[str, Any]:
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                tables = [r[0] for r in conn.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'table'" if database_url.startswith("sqlite")
                    else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
                rows = {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar()) for t in tables}
                proofs = rows.get("proofs", 0)
                if database_url.startswith("sqlite"):
                    path = Path(database_url.removeprefix("sqlite:///"))
                    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
                    return {"backend": "sqlite", "rows": rows, "file_bytes": size,
                            "bytes_per_proof_file": round(size / proofs) if proofs else None}
                sizes = {t: int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar())
                         for t in tables}
                heap = int(conn.execute(text("SELECT pg_relation_size('proofs')")).scalar())
                tuple_bytes = conn.execute(text("SELECT avg(pg_column_size(p.*)) FROM proofs p")).scalar()
                db_size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
                try:
                    probe = self.size_probe(conn, proofs) if proofs else None
                except Exception as exc:  # a figure missing is no reason to lose the others
                    probe = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        finally:
            engine.dispose()
        per_proof = round(sizes.get("proofs", 0) / proofs) if proofs else None
        return {"backend": "postgresql", "rows": rows, "bytes": sizes, "database_bytes": db_size,
                "proofs_total_relation_bytes": sizes.get("proofs"), "proofs_heap_bytes": heap,
                "bytes_per_proof_total_relation": per_proof,
                "bytes_per_proof_all_tables": round(sum(sizes.values()) / proofs) if proofs else None,
                "proof_tuple_bytes_avg": round(float(tuple_bytes), 1) if tuple_bytes is not None else None,
                "proofs_indexes": 4, "size_probe": probe}

    @staticmethod
    def size_probe(conn: Any, proofs: int, target_rows: int = 20_000) -> dict[str, Any]:
        """A few hundred rows sit in a few 8-KB pages, so size / rows overstates a row. The probe copies this
        run's real proof rows into a scratch table with the same columns and indexes (LIKE proofs INCLUDING
        ALL), each repeated with shifted epochs (and tx hashes) up to ~20,000 rows, measures
        pg_total_relation_size / rows there, and drops it. Same for `blocks` (one row per block with events)."""
        from sqlalchemy import text

        copies = max(1, target_rows // proofs)
        out: dict[str, Any] = {"copies_of_each_real_row": copies}
        try:
            conn.execute(text("CREATE TEMP TABLE fleet_probe_proofs (LIKE proofs INCLUDING ALL)"))
            conn.execute(text(
                "INSERT INTO fleet_probe_proofs SELECT p.node, p.epoch + g::bigint * 1000000000, p.beneficiary, p.class_id, "
                "p.tier, p.efficiency_uj_per_unit, p.work_units, p.methods, p.commitment, p.energy_bound_mj, "
                "p.carbon_bound_mg, p.credits_wei, p.credits_eco, p.baseline_uj_per_unit, p.epoch_start, "
                "p.epoch_end, p.block + g::bigint * 100000, p.timestamp, "
                "'0x' || substr(md5(p.tx_hash || g::text) || md5(g::text || p.tx_hash), 1, 64), p.log_index, "
                "p.gas_used, p.batch_size, p.settled_by, p.proof "
                "FROM proofs p CROSS JOIN generate_series(1, :n) g ORDER BY g, p.node, p.epoch"), {"n": copies})
            rows = int(conn.execute(text("SELECT count(*) FROM fleet_probe_proofs")).scalar())
            size = int(conn.execute(text("SELECT pg_total_relation_size('fleet_probe_proofs')")).scalar())
            heap = int(conn.execute(text("SELECT pg_relation_size('fleet_probe_proofs')")).scalar())
            out.update(proofs_rows=rows, proofs_bytes=size, proofs_bytes_per_row=round(size / rows),
                       proofs_heap_bytes_per_row=round(heap / rows),
                       proofs_index_bytes_per_row=round((size - heap) / rows))
            blocks_n = int(conn.execute(text("SELECT count(*) FROM blocks")).scalar())
            if blocks_n:
                conn.execute(text("CREATE TEMP TABLE fleet_probe_blocks (LIKE blocks INCLUDING ALL)"))
                conn.execute(text(
                    "INSERT INTO fleet_probe_blocks SELECT b.number + g::bigint * 100000, b.hash, b.timestamp "
                    "FROM blocks b CROSS JOIN generate_series(1, :n) g ORDER BY 1"),
                    {"n": max(1, target_rows // blocks_n)})
                brows = int(conn.execute(text("SELECT count(*) FROM fleet_probe_blocks")).scalar())
                bsize = int(conn.execute(text("SELECT pg_total_relation_size('fleet_probe_blocks')")).scalar())
                out.update(blocks_rows=brows, blocks_bytes_per_row=round(bsize / brows))
        finally:
            conn.rollback()  # temp tables, never committed
        return out

    def catchup_run(self, database_url: str, events: int) -> dict[str, Any]:
        """A fresh indexer on a fresh database, from the deployment block to the head: indexing speed when it
        does not wait for the chain (what a new replica or a re-index after a migration sees)."""
        if self.pg is not None:
            url = self.pg.create_database("catchup")
        else:
            url = f"sqlite:///{self.work / 'catchup.sqlite'}"
        health = free_port()
        head = self.w3.eth.block_number
        self.catchup = self.spawn(self.ecoai("web", "index", "--deployment", str(self.work / "deployment.json"),
                                             "--rpc-url", self.anvil.url, "--poll-interval", "0.05",  # type: ignore
                                             "--health-port", str(health)),
                                  self.work / "catchup.log", {"ECOAI_DATABASE_URL": url})
        role = self.add_role("indexer (catch-up)", self.catchup.pid)
        try:
            url_h = f"http://127.0.0.1:{health}/healthz"
            wait_until(lambda: http_json(url_h, 1.0), 120, "the catch-up indexer", self.catchup, 0.05)
            role.open_window()
            t = time.monotonic()
            wait_until(lambda: (http_json(url_h, 1.0)["indexed_block"] or 0) >= head, 120,
                       "the catch-up indexer to reach the head", self.catchup, 0.02)
            seconds = time.monotonic() - t
            role.sample()
            cpu = role.cpu_window()
        finally:
            self.recorded |= role.pids()
            stop_group(self.catchup, 15)
            self.roles.pop("indexer (catch-up)", None)
        return {"events": events, "blocks": head - self.deployment.block, "seconds": round(seconds, 3),
                "events_per_s": round(events / seconds, 1) if seconds > 0 else None, "cpu_s": round(cpu, 3),
                "cpu_ms_per_event": round(1000 * cpu / events, 2) if events else None,
                "note": "timed from the indexer's first /healthz answer (schema already migrated) to indexed_block "
                        "= head; includes its first chain reads"}

    # ------------------------------------------------------------ output

    def report(self, m: dict[str, Any]) -> None:
        a = self.args
        print()
        print(f"fleet of {a.nodes} nodes, {a.epoch_seconds}-s epochs, {m['window_s']} s window, index on {a.backend}, "
              f"{m['cpus']} CPUs, load {m['load_avg_1m_start']} → {m['load_avg_1m_end']} (1-min average)")
        print("energy and work of every node: the REPLAYED H200 trace (labelled replayed on chain), not measured")
        print()
        print(f"{'node':>4} {'offset':>6} {'closed':>6} {'proved':>6} {'accepted':>8} {'not proved':>12} "
              f"{'pending':>7} {'prove p50':>9} {'accept p50':>10} {'visible p50':>11} {'CPU s':>6} "
              f"{'CPU/epoch':>9} {'peak RSS':>9}")
        for n in m["per_node"]:
            not_proved = sum(n["not_proved"].values())
            print(f"{n['node']:>4} {n['replay_offset_s']:>5.0f}s {n['epochs_closed']:>6} {n['proved']:>6} "
                  f"{n['accepted']:>8} {not_proved:>12} {n['pending_at_stop']:>7} "
                  f"{fmt(n['prove_s_p50'], 's'):>9} {fmt(n['accept_latency_chain_p50_s'], 's'):>10} "
                  f"{fmt(n['visible_latency_p50_s'], 's'):>11} {n['cpu_window_s']:>6.1f} "
                  f"{fmt(n['cpu_per_closed_epoch_s'], 's'):>9} {n['peak_rss_mb']:>7.0f}MB")
        print()
        for name, key in (("epoch end → accepted (block timestamp, 1-s resolution)", "latency_accept_chain"),
                          ("epoch end → accepted (node.db record)", "latency_accept_node"),
                          ("epoch end → visible on the leaderboard", "latency_visible")):
            s = m[key]
            print(f"{name:<58} n={s['n']:<4} p50 {fmt(s['p50_s'], 's'):>8}  p99 {fmt(s['p99_s'], 's'):>8}  "
                  f"max {fmt(s['max_s'], 's'):>8}")
        g = m["gas_per_accepted_epoch"]
        print(f"gas per accepted epoch: mean {g['mean']}, p50 {g['p50']}, min {g['min']}, max {g['max']} "
              f"(n={g['n']})")
        print()
        print(f"{'role':<20} {'CPU s (window)':>14} {'CPU share':>9} {'CPU s total':>11} {'peak RSS':>10} {'procs':>5}")
        for r in m["roles"]:
            print(f"{r['role']:<20} {r['cpu_window_s']:>14.1f} {r['cpu_share_of_window']:>8.0%} "
                  f"{r['cpu_total_s']:>11.1f} {r['peak_rss_mb']:>8.0f}MB {r['processes']:>5}")
        i = m["indexer"]
        print()
        print(f"indexer: {i['events_in_window']} events in the window = {i['events_per_s_sustained']} events/s "
              f"sustained, {i['cpu_window_s']} CPU s = {i['cpu_ms_per_event']} ms CPU per event")
        c = m["catchup"]
        print(f"catch-up indexer: {c['events']} events ({c['blocks']} blocks) in {c['seconds']} s = "
              f"{c['events_per_s']} events/s, {c['cpu_ms_per_event']} ms CPU per event")
        d = m["database"]
        if d["backend"] == "postgresql":
            print(f"database: {d['rows'].get('proofs')} proofs; proofs table {d['proofs_total_relation_bytes']} bytes "
                  f"(heap + 4 indexes + TOAST) = {d['bytes_per_proof_total_relation']} bytes/proof; all tables "
                  f"{d['bytes_per_proof_all_tables']} bytes/proof; avg proof tuple {d['proof_tuple_bytes_avg']} "
                  f"bytes; database {d['database_bytes']} bytes")
            probe = d.get("size_probe") or {}
            if "proofs_bytes_per_row" in probe:
                print(f"size probe ({probe['proofs_rows']} rows = this run's proofs x {probe['copies_of_each_real_row']}"
                      f", same indexes): {probe['proofs_bytes_per_row']} bytes per proof row (heap "
                      f"{probe['proofs_heap_bytes_per_row']}, indexes {probe['proofs_index_bytes_per_row']}); "
                      f"blocks {probe.get('blocks_bytes_per_row')} bytes per row")
        else:
            print(f"database: {d['rows'].get('proofs')} proofs; SQLite files {d['file_bytes']} bytes = "
                  f"{d['bytes_per_proof_file']} bytes/proof")
        print()
        base = {"bench": "fleet", "nodes": a.nodes, "backend": a.backend, "epoch_seconds": a.epoch_seconds,
                "window_s": m["window_s"], "data": "replayed H200 trace (energy and work), labelled replayed"}
        lines = [{**base, "kind": "node", **n} for n in m["per_node"]]
        lines += [{**base, "kind": "role", **r} for r in m["roles"]]
        lines.append({**base, "kind": "summary", "accepted_total": m["accepted_total"],
                      "latency_accept_chain": m["latency_accept_chain"],
                      "latency_accept_node": m["latency_accept_node"], "latency_visible": m["latency_visible"],
                      "gas_per_accepted_epoch": m["gas_per_accepted_epoch"], "indexer": m["indexer"],
                      "catchup": m["catchup"], "database": m["database"], "startup_s": m["startup_s"],
                      "cpus": m["cpus"], "load_avg_1m_start": m["load_avg_1m_start"],
                      "load_avg_1m_end": m["load_avg_1m_end"], "web_workers": a.web_workers,
                      "index_poll_s": a.index_poll, "web_poll_s": a.web_poll})
        for line in lines:
            print(json.dumps(line))
        if a.out:
            a.out.write_text("".join(json.dumps(line) + "\n" for line in lines))
        sys.stdout.flush()

    # ------------------------------------------------------------ stop

    def shutdown(self) -> None:
        """Stop everything this run started, whatever happened: nodes, web, indexers, PostgreSQL, anvil."""
        with contextlib.suppress(Exception):
            self.sample_all()
        for node in self.nodes:
            terminate(node.proc)
        for node in self.nodes:
            stop_group(node.proc, 20)
        for proc in (self.catchup, self.web, self.indexer):
            stop_group(proc, 15)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()
        if self.anvil is not None:
            with contextlib.suppress(Exception):
                self.anvil.stop()
        harness = os.getpid()
        kill_leftovers({key for key in self.recorded if key[0] != harness})


def fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


if __name__ == "__main__":
    sys.exit(main())
