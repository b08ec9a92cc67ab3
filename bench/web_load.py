"""Load benchmark of the web dApp: leaderboard and node pages over a database at scale.

1. Seeds an index with SYNTHETIC data: 10,000 nodes and 1,000,000 proof records (100 epochs each) by default,
   through the same summary code the indexer uses (web.db.summaries.refresh). `--backend sqlite` (default)
   writes a SQLite file; `--backend postgres` starts its own throw-away PostgreSQL (tests/web/postgres.py) and
   bulk-loads the rows with COPY (psycopg's cursor.copy), e.g. `--nodes 100000 --epochs 100` = 10 M records.
2. Serves it with `web.app.create_app` under uvicorn (uvloop + httptools) in `--workers` processes sharing the
   port (default 1 on SQLite, 2 on PostgreSQL), with a notice on every page saying the data is synthetic.
3. Drives load from this process over loopback with an asyncio keep-alive HTTP/1.1 client: leaderboard
   pages (random sort, random page), then node pages (random node), and reports requests/s and p50/p99,
   next to a peer measured in the same run (the same server's /healthz: the HTTP stack's floor right now).

Goal on the 2-core dev machine: >= 1,000 req/s with p99 < 50 ms (SQLite, 1 worker); on PostgreSQL with 2
workers, cache-off leaderboard and node pages >= 2,000 req/s each with p99 < 50 ms. Runs, each against fresh
server processes (--workers): the /healthz peer, leaderboard pages, node pages, and the same two with the
page cache off (every request routed, validated, queried and rendered). Prints a table, then one JSON line
per run. The last full-size figures, and where a cache-off request's CPU goes, are in README.md (Tests and
benchmarks).

    .venv/bin/python bench/web_load.py [--backend sqlite|postgres] [--nodes 10000] [--epochs 100] [--duration 8]
                                       [--connections 16] [--db reuse.sqlite] [--no-uncached] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests" / "web"))  # postgres.py: the throw-away server the web tests use too

from eth_utils import to_checksum_address  # noqa: E402

from oracle.conventions import (WEI_PER_ECO, efficiency_carbon_bound_mg, efficiency_credits_wei,  # noqa: E402
                                energy_bound_mj)
from oracle.net import free_port  # noqa: E402
from postgres import TempPostgres  # noqa: E402
from web.db.engine import DATABASE_URL_ENV, Database  # noqa: E402
from web.db.queries import Reader  # noqa: E402
from web.db.schema import param_events, set_cursor, transaction  # noqa: E402
from web.db.summaries import SORTS, refresh  # noqa: E402
from sqlalchemy import insert  # noqa: E402

SYNTHETIC_NOTICE = "Synthetic data: this database was seeded by bench/web_load.py, not indexed from a chain."

# (class id, hardware, unit, baseline β µJ/unit, tiers τ µJ/unit, max units per second)
CLASSES = [("H200/llm-8b/token", "H200", "token", 200_000, [90_000, 120_000, 150_000], 20_000),
           ("A100/sdxl/image", "A100", "image", 4_000_000_000, [2_000_000_000, 2_500_000_000, 3_000_000_000], 4)]
REGIONS = [("KR", 436), ("FR", 56), ("US-CAL", 210)]
EPOCH_S = 3600


PROOF_COLUMNS = ("node", "epoch", "beneficiary", "class_id", "tier", "efficiency_uj_per_unit", "work_units", "methods",
                 "commitment", "energy_bound_mj", "carbon_bound_mg", "credits_wei", "credits_eco",
                 "baseline_uj_per_unit", "epoch_start", "epoch_end", "block", "timestamp", "tx_hash", "log_index",
                 "gas_used", "batch_size")
NODE_EVENT_COLUMNS = ("tx_hash", "log_index", "node", "kind", "beneficiary", "class_id", "region", "label",
                      "admitted_at", "block")
SECONDARY_INDEXES = {"proofs_by_block": "proofs (block)", "proofs_by_epoch": "proofs (epoch)",
                     "proofs_by_tx": "proofs (tx_hash)"}


def class_events() -> list[dict]:
    """EfficiencyClassSet rows (param_events) for CLASSES, as the indexer stores them."""
    return [{"tx_hash": f"0x{i + 1:064x}", "log_index": 0, "name": "EfficiencyClassSet", "block": 1,
             "args": json.dumps({"classId": cid, "hardwareClass": hw, "workload": cid.split("/")[1], "unit": unit,
                                 "qualityFloor": "synthetic", "baselineUjPerUnit": beta, "tiersUjPerUnit": tiers,
                                 "minWorkPerEpoch": 1, "maxUnitsPerSecond": rate, "requireMeasured": False})}
            for i, (cid, hw, unit, beta, tiers, rate) in enumerate(CLASSES)]


def synthetic_rows(nodes: int, epochs: int, rng_seed: int = 7):  # -> (node_event rows, lazy proof rows)
    rng = random.Random(rng_seed)
    # Sorted, so rows arrive in primary-key order (node, epoch): appends to the B-tree, no page splits.
    addresses = sorted(to_checksum_address(rng.getrandbits(160).to_bytes(20, "big")) for _ in range(nodes))
    first_epoch = 490_000
    node_rows = []
    for i, node in enumerate(addresses):
        class_id = CLASSES[i % len(CLASSES)][0]
        region, _ = REGIONS[i % len(REGIONS)]
        node_rows.append((f"0x{i:064x}", 0, node, "admitted", addresses[(i + 1) % nodes], class_id, region,
                          f"node-{i}", 0, 1))

    def proof_rows():  # generated lazily: millions of tuples never sit in memory at once
        log_index = 0
        for i, node in enumerate(addresses):
            class_id, _, _, beta, tiers, rate = CLASSES[i % len(CLASSES)]
            _, grams = REGIONS[i % len(REGIONS)]
            work = min(rate * EPOCH_S, 10_000_000)
            per_tier = [(t, str(efficiency_credits_wei(beta, t, work, rate, EPOCH_S)),
                         efficiency_credits_wei(beta, t, work, rate, EPOCH_S) / WEI_PER_ECO,
                         energy_bound_mj(t, work), efficiency_carbon_bound_mg(t, work, grams)) for t in tiers]
            beneficiary = addresses[(i + 1) % nodes]
            skill = rng.random()
            for e in range(epochs):
                tier = 0 if rng.random() < skill else rng.randrange(1, len(tiers))
                tau, credits, eco, bound, carbon = per_tier[tier]
                log_index += 1
                epoch = first_epoch + e
                yield (node, epoch, beneficiary, class_id, tier, tau, work, 0, str(rng.getrandbits(253)), bound,
                       carbon, credits, eco, beta, epoch * EPOCH_S, (epoch + 1) * EPOCH_S, 10 + e * 100 + (i % 100),
                       1_764_000_000 + e * 3600 + i % 3600, f"0x{log_index:064x}", 0, 205_000 + (i % 1000), 1)

    return node_rows, proof_rows()


def leaderboard_path(rng: random.Random, pages: int) -> str:
    """A random leaderboard page: by credits, Eco Score or proofs over all nodes, or by efficiency in a class."""
    sort = rng.choice([*SORTS, "efficiency"])
    if sort == "efficiency":
        class_id = rng.choice(CLASSES)[0]
        return f"/leaderboard?sort=efficiency&class={class_id}&page={rng.randint(1, max(1, pages // len(CLASSES)))}"
    return f"/leaderboard?sort={sort}&page={rng.randint(1, pages)}"


def seed(db: Database, nodes: int, epochs: int) -> dict[str, float]:
    """Write `nodes` × `epochs` synthetic proof records (bulk: COPY on PostgreSQL, one transaction of
    executemany on SQLite), then build the summaries with the indexer's code."""
    db.upgrade()
    db.dispose()  # SQLite: no pooled connection may hold the file while the bulk load changes its journal mode
    t0 = time.perf_counter()
    node_rows, proof_rows = synthetic_rows(nodes, epochs)
    if db.is_postgresql:
        _bulk_load_postgresql(db, node_rows, proof_rows)
    else:
        _bulk_load_sqlite(db, node_rows, proof_rows)
    t1 = time.perf_counter()
    with db.engine.connect() as conn, transaction(conn):
        conn.execute(insert(param_events), class_events())
        refresh(conn)
        set_cursor(conn, 10 + epochs * 100, "0x" + "00" * 32)
    t2 = time.perf_counter()
    if db.is_postgresql:  # fresh statistics, and a visibility map so the covering indexes serve index-only
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        import sqlite3

        conn = sqlite3.connect(db.path)
        conn.execute("ANALYZE")
        conn.close()
    db.dispose()
    return {"seed_rows_s": round(t1 - t0, 2), "seed_summaries_s": round(t2 - t1, 2),
            "seed_total_s": round(time.perf_counter() - t0, 2)}


def _bulk_load_sqlite(db: Database, node_rows, proof_rows) -> None:
    import sqlite3

    conn = sqlite3.connect(db.path, isolation_level=None)
    # A fresh, throw-away synthetic file: no journal and no fsync while seeding (a crash just means seeding
    # again); the store's own settings (WAL, synchronous=NORMAL) are back before any server opens it.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("BEGIN")
    for name in SECONDARY_INDEXES:  # build the secondary indexes once at the end instead of row by row
        conn.execute(f"DROP INDEX {name}")
    conn.executemany(f"INSERT INTO node_events ({','.join(NODE_EVENT_COLUMNS)}) "
                     f"VALUES ({','.join('?' * len(NODE_EVENT_COLUMNS))})", node_rows)
    conn.executemany(f"INSERT INTO proofs ({','.join(PROOF_COLUMNS)}) VALUES ({','.join('?' * len(PROOF_COLUMNS))})",
                     proof_rows)
    for name, target in SECONDARY_INDEXES.items():
        conn.execute(f"CREATE INDEX {name} ON {target}")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def _bulk_load_postgresql(db: Database, node_rows, proof_rows) -> None:
    import psycopg

    conninfo = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for name in SECONDARY_INDEXES:
            cur.execute(f"DROP INDEX {name}")
        with cur.copy(f"COPY node_events ({', '.join(NODE_EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in node_rows:
                copy.write_row(row)
        with cur.copy(f"COPY proofs ({', '.join(PROOF_COLUMNS)}) FROM STDIN") as copy:
            for row in proof_rows:
                copy.write_row(row)
        for name, target in SECONDARY_INDEXES.items():
            cur.execute(f"CREATE INDEX {name} ON {target}")
        conn.commit()


def serve(location: str, port: int, page_cache: bool, stats_file: Path | None) -> None:
    """One server process. With SO_REUSEPORT several of them share the port; the kernel spreads connections."""
    import signal
    import socket

    import uvicorn

    from web.app import create_app
    from web.cache import DEFAULT_MAX_BYTES

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    app = create_app(location, cache_bytes=DEFAULT_MAX_BYTES if page_cache else 0, notice=SYNTHETIC_NOTICE,
                     migrate=False)
    server = uvicorn.Server(uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning",
                                           access_log=False))
    # uvicorn re-raises SIGTERM to the previous handler after its graceful stop: make that a plain return.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run(sockets=[sock])
    cache = app.state.page_cache
    if stats_file is not None and cache is not None:  # after SIGTERM: how many answers the cache gave
        stats_file.write_text(json.dumps({"hits": cache.hits, "misses": cache.misses, "entries": len(cache)}))


async def _one_connection(port: int, paths: list[str], deadline: float, latencies: list[float],
                          errors: list[str], rng: random.Random) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            path = paths[rng.randrange(len(paths))]
            start = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"{status} {path}")
    finally:
        writer.close()


async def drive(port: int, paths: list[str], duration: float, connections: int) -> tuple[list[float], list[str], float]:
    rng = random.Random(11)
    warm: list[float] = []
    await asyncio.gather(*(_one_connection(port, paths, time.perf_counter() + 1.0, warm, [], rng)
                           for _ in range(connections)))
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_one_connection(port, paths, start + duration, latencies, errors, rng)
                           for _ in range(connections)))
    return latencies, errors, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100, help="proof records per node")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of measured load per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="index database: a SQLite file, or a PostgreSQL server this bench starts (default sqlite)")
    parser.add_argument("--workers", type=int, default=None, help="server processes sharing the port, as "
                        "`ecoai web serve --workers N` runs (default 1 on sqlite, 2 on postgres)")
    parser.add_argument("--no-uncached", action="store_true",
                        help="skip the runs with the page cache off (what rendering every request costs)")
    parser.add_argument("--db", type=Path, help="sqlite: reuse this seeded file (seeded there first if missing)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # internal: server process
    parser.add_argument("--page-cache", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:  # the database's location comes in the environment, as `ecoai web serve` passes it
        serve(os.environ[DATABASE_URL_ENV], args.serve, bool(args.page_cache), args.stats)
        return 0
    workers = args.workers or (2 if args.backend == "postgres" else 1)
    server = None
    if args.backend == "postgres":
        # A server of its own: fsync off and generous buffers suit a throw-away synthetic database.
        server = TempPostgres({"shared_buffers": "1GB", "effective_cache_size": "8GB", "work_mem": "64MB",
                               "maintenance_work_mem": "1GB", "max_wal_size": "8GB", "autovacuum": "off",
                               "jit": "off"}).start()
    try:
        return run(args, workers, server)
    finally:
        if server is not None:
            server.stop()


def run(args: argparse.Namespace, workers: int, server: TempPostgres | None) -> int:
    with tempfile.TemporaryDirectory(prefix="ecoai-web-bench-") as tmp:
        location = server.create_database("bench") if server else str(args.db or Path(tmp) / "web.sqlite")
        db = Database(location)
        seeding: dict[str, float] = {}
        if server is not None or not Path(location).exists():
            print(f"seeding {args.nodes:,} nodes x {args.epochs} epochs = {args.nodes * args.epochs:,} synthetic "
                  f"proof records into {db.display} ...", flush=True)
            seeding = seed(db, args.nodes, args.epochs)
            print(f"seeded in {seeding['seed_total_s']} s (rows {seeding['seed_rows_s']} s, summaries "
                  f"{seeding['seed_summaries_s']} s)", flush=True)
        reader = Reader(db.reader())
        nodes = [r[0] for r in reader.conn.exec_driver_sql("SELECT node FROM nodes")]
        total = reader.totals()
        reader.close()
        db.dispose()
        rng = random.Random(3)
        pages = max(1, -(-len(nodes) // 25))
        # 2,000 random requests of each kind, drawn from 1,600 leaderboard pages (3 sorts x 400 over all nodes,
        # efficiency x 200 in each of the 2 classes) and 10,000
        # node pages: most are distinct, so the cached runs also pay for their first render.
        workloads = {
            "leaderboard": [leaderboard_path(rng, pages) for _ in range(2000)],
            "node": [f"/nodes/{rng.choice(nodes)}" for _ in range(2000)],
        }
        runs: list[tuple[str, list[str], bool]] = [
            # Peer measured in the same run: the same server answering /healthz (one tiny read, small JSON
            # through FastAPI), i.e. the floor of this HTTP stack on this machine right now.
            ("healthz (peer)", ["/healthz"], True),
            *((name, paths, True) for name, paths in workloads.items()),
            *(() if args.no_uncached else ((f"{name} (cache off)", paths, False) for name, paths in workloads.items())),
        ]
        results = []
        for name, paths, cached in runs:
            result = measure(location, workers, paths, args.duration, args.connections, cached, Path(tmp))
            results.append({"run": name, **result, "load_avg_1m": round(os.getloadavg()[0], 2)})
            print(f"  {name:<26} {result['requests_per_s']:>8,.0f} req/s   p50 {result['p50_ms']:6.2f} ms   "
                  f"p99 {result['p99_ms']:6.2f} ms   errors {result['errors']}"
                  + (f"   cache hits {result['cache_hit_ratio']:.0%}" if "cache_hit_ratio" in result else "")
                  + f"   load {results[-1]['load_avg_1m']}", flush=True)
    peer = results[0]["requests_per_s"]
    for result in results:
        print(json.dumps({"bench": "web_load", "data": "synthetic", "backend": db.dialect, "nodes": total["nodes"],
                          "proof_records": total["proofs"], **seeding, **result,
                          "vs_peer_healthz": round(result["requests_per_s"] / peer, 2),
                          "goal": ">= 2000 req/s, p99 < 50 ms" if db.is_postgresql else ">= 1000 req/s, p99 < 50 ms"}))
    return 0


def measure(location: str, workers: int, paths: list[str], duration: float, connections: int, page_cache: bool,
            tmp: Path) -> dict[str, object]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), DATABASE_URL_ENV: location}
    stats = [tmp / f"stats-{port}-{i}.json" for i in range(workers)]
    servers = [subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                                 "--page-cache", str(int(page_cache)), "--stats", str(stats[i])], env=env)
               for i in range(workers)]
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        time.sleep(1.0)  # every worker up (each one answers /healthz only once it listens)
        latencies, errors, elapsed = asyncio.run(drive(port, paths, duration, connections))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(10)
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    if errors:
        print(f"first errors: {errors[:5]}", file=sys.stderr)
    result: dict[str, object] = {
        "server_workers": workers, "page_cache": page_cache, "connections": connections,
        "distinct_paths": len(set(paths)), "duration_s": round(elapsed, 2), "requests": len(ms),
        "errors": len(errors), "requests_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2)}
    counts = [json.loads(f.read_text()) for f in stats if f.exists()]
    if page_cache and counts and paths != ["/healthz"]:  # over warm-up and measurement together
        hits, misses = sum(c["hits"] for c in counts), sum(c["misses"] for c in counts)
        result["cache_hit_ratio"] = round(hits / max(1, hits + misses), 3)
    return result


if __name__ == "__main__":
    sys.exit(main())
