#!/usr/bin/env python3
"""CPU cost of the 10 Hz sampler as % of one core (goal <= 0.1 %), printed next to a peer measured in the same run.

Each configuration samples in real time; the cost is the CPU time of the thread running it (user + system,
time.thread_time; with the Store sink that thread also does every SQLite commit) divided by the wall time.
The peer is an empty 10 Hz loop (the floor of any Python 10 Hz timer), so the ratio shows what our sampling
adds. Configurations run in interleaved rounds so that changing machine load hits them alike. The oracle
node's configuration is "replay + cpu -> Store": the replayed H200 trace plus the CPU estimate, every reading
made durable in SQLite (batched commits, durable at the end of each run; see oracle/measure/store.py). A last row
times our own per-tick work on a virtual clock (no wake-ups), which machine load disturbs least.

Counter sources (NVML's energy counter, RAPL, the replayed trace, work counters) need no 10 Hz polling: the
CounterReader reads them only at the 64 interval boundaries of each epoch. Their rows: real-time boundary
reading for 5 s epochs (the local demo: 12.8 reads/s) and 60 s epochs, with the replayed energy and work plus a
work counter read over HTTP from a prometheus_client exporter on 127.0.0.1 (the engine's own CPU is not ours
and is not counted); then the CPU per boundary read, timed on a virtual clock, times the read rate for longer
epochs (goal <= 0.01 % of a core).

    .venv/bin/python bench/sampler.py [--seconds 9] [--rounds 3]   (about 50 s)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.measure import Sampler, open_sources, open_work_sources  # noqa: E402
from oracle.measure.counters import CounterReader, interval_boundaries  # noqa: E402
from oracle.measure.store import Store  # noqa: E402


def cost_s(target: Callable[[float], object], seconds: float) -> tuple[float, float]:
    """(thread CPU seconds, wall seconds) of `target(seconds)` run in its own thread."""
    result: list[float] = []

    def runner() -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        target(seconds)
        result.extend((time.thread_time() - c0, time.perf_counter() - w0))

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    return result[0], result[1]


def empty_loop(seconds: float) -> None:
    end = time.time() + seconds
    next_tick = time.time()
    while time.time() < end:
        next_tick += 0.1
        time.sleep(max(0.0, next_tick - time.time()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=9.0, help="real-time seconds per configuration")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds the seconds are split into")
    args = parser.parse_args()
    s, rounds = args.seconds, max(1, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        stores: list[Store] = []

        def sampler(specs: list[str], store: bool, flush_interval_s: float) -> Callable[[float], object]:
            sinks = []
            if store:
                stores.append(Store(Path(tmp) / f"bench-{len(stores)}.sqlite"))
                sinks.append(stores[-1].sink)
            return Sampler(open_sources(specs), sinks=sinks, interval_s=0.1, flush_interval_s=flush_interval_s).run

        from prometheus_client import CollectorRegistry, Counter, start_http_server

        registry = CollectorRegistry()
        items = Counter("bench_items", "items served", ["model"], registry=registry).labels(model="bench")
        items.inc(1)
        server, server_thread = start_http_server(0, "127.0.0.1", registry=registry)
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        prom_spec = f'prometheus:{url}#bench_items_total{{model="bench"}}@item'

        def counters(epoch_s: float, http: bool) -> Callable[[float], object]:
            stores.append(Store(Path(tmp) / f"bench-{len(stores)}.sqlite"))
            energy = open_sources(["replay"])
            work = open_work_sources([prom_spec] if http else ["replay"], energy_sources=energy)
            reader = CounterReader([*energy, *work], sinks=[stores[-1].sink],
                                   boundaries=interval_boundaries(epoch_s))
            return lambda seconds: reader.run_until(time.time() + seconds)

        configs: list[tuple[str, Callable[[float], object]]] = [
            ("empty 10 Hz loop (peer)", empty_loop),
            ("sampler: replay (H200 trace)", sampler(["replay"], False, 1.0)),
            ("sampler: cpu estimate (/proc/stat)", sampler(["cpu"], False, 1.0)),
            ("node: replay + cpu -> Store, hand-over every 1 s", sampler(["auto"], True, 1.0)),
            ("node: replay + cpu -> Store, hand-over every tick", sampler(["auto"], True, 0.1)),
            ("counters at boundaries, 5 s epochs: replay energy+work -> Store", counters(5.0, False)),
            ("counters at boundaries, 60 s epochs (few reads: start-up heavy): + HTTP", counters(60.0, True)),
        ]
        totals = {label: [0.0, 0.0] for label, _ in configs}
        for _ in range(rounds):
            for label, target in configs:
                cpu, wall = cost_s(target, s / rounds)
                totals[label][0] += cpu
                totals[label][1] += wall
        rows = [(label, 100.0 * cpu / wall) for label, (cpu, wall) in totals.items()]
        readings = sum(len(st.readings(0.0, float("inf"))) for st in stores)
        for st in stores:
            st.close()
        # Our own per-tick work without the OS timer wake-ups (virtual clock): stable under machine load.
        store = Store(Path(tmp) / "virtual.sqlite")
        virtual = Sampler(open_sources(["auto"]), sinks=[store.sink], interval_s=0.1)
        ticks = 20_000
        c0 = time.thread_time()
        virtual.run(ticks * 0.1, realtime=False, start=2e9)
        per_tick = (time.thread_time() - c0) / virtual.ticks
        store.close()
        rows.append((f"work per tick x 10 Hz: replay + cpu -> Store ({per_tick * 1e6:.0f} us/tick)",
                     100.0 * per_tick * 10))
        # One boundary read of the counter sources (replayed energy + replayed work + HTTP work counter), into
        # the Store, timed over many reads; x 64 reads per epoch for each epoch length.
        store = Store(Path(tmp) / "virtual-counters.sqlite")
        energy = open_sources(["replay"])
        reader = CounterReader([*energy, *open_work_sources(["replay", prom_spec],
                                                            energy_sources=energy)], sinks=[store.sink])
        reads, t = 300, 2e9
        c0 = time.thread_time()
        for k in range(reads):
            items.inc(3)
            reader.read(t + k * 0.1)
        per_read = (time.thread_time() - c0) / reads
        reader.flush()
        store.close()
        server.shutdown()
        server.server_close()
        server_thread.join(timeout=5)
        for epoch_s in (5, 60, 300, 3600):
            rows.append((f"counters, {epoch_s} s epochs: {per_read * 1e6:.0f} us/read x 64 reads/epoch",
                         100.0 * per_read * 64 / epoch_s))
    peer = rows[0][1]
    print(f"10 Hz sampler CPU cost, {s:.0f} s each in {rounds} interleaved rounds (% of one core; goal <= 0.1 %; "
          "counter sources at boundaries: goal <= 0.01 %):")
    for label, pct in rows:
        ratio = f"{pct / peer:5.1f}x peer" if peer > 0 else ""
        print(f"  {label:66} {pct:8.4f} %   {ratio}")
    print(f"  ({readings} readings stored in SQLite by the Store configurations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
