#!/usr/bin/env python3
"""CPU cost of the 10 Hz sampler as % of one core (goal <= 0.1 %), printed next to a peer measured in the same run.

Each configuration samples in real time; the cost is the CPU time of the thread running it (user + system,
time.thread_time; with the Store sink that thread also does every SQLite commit) divided by the wall time.
The peer is an empty 10 Hz loop (the floor of any Python 10 Hz timer), so the ratio shows what our sampling
adds. Configurations run in interleaved rounds so that changing machine load hits them alike. The oracle
node's configuration is "replay + cpu -> Store": the replayed H200 trace plus the CPU estimate, every reading
made durable in SQLite (batched commits, durable at the end of each run; see oracle/measure/store.py). A last row
times our own per-tick work on a virtual clock (no wake-ups), which machine load disturbs least.

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

from oracle.measure import Sampler, open_sources  # noqa: E402
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

        configs: list[tuple[str, Callable[[float], object]]] = [
            ("empty 10 Hz loop (peer)", empty_loop),
            ("sampler: replay (H200 trace)", sampler(["replay"], False, 1.0)),
            ("sampler: cpu estimate (/proc/stat)", sampler(["cpu"], False, 1.0)),
            ("node: replay + cpu -> Store, hand-over every 1 s", sampler(["auto"], True, 1.0)),
            ("node: replay + cpu -> Store, hand-over every tick", sampler(["auto"], True, 0.1)),
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
    peer = rows[0][1]
    print(f"10 Hz sampler CPU cost, {s:.0f} s each in {rounds} interleaved rounds (% of one core; goal <= 0.1 %):")
    for label, pct in rows:
        ratio = f"{pct / peer:5.1f}x peer" if peer > 0 else ""
        print(f"  {label:62} {pct:7.3f} %   {ratio}")
    print(f"  ({readings} readings stored in SQLite by the Store configurations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
