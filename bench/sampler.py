#!/usr/bin/env python3
"""CPU cost of the 10 Hz sampler as % of one core (goal <= 0.1 %), printed next to a peer measured in the same run.

Each configuration samples in real time for --seconds; the cost is the process CPU time (user + system,
thread-level via time.thread_time for the sampler thread) divided by the wall time. The peer is an empty
10 Hz loop (the floor of any Python 10 Hz timer) so the ratio shows what our sampling adds. A last row times our own
per-tick work on a virtual clock (no wake-ups), which machine load disturbs least.

    .venv/bin/python bench/sampler.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.measure import Sampler, open_sources  # noqa: E402
from oracle.store import Store  # noqa: E402


def cost_pct(target: object, seconds: float) -> float:
    """% of one core used by `target(seconds)` running in its own thread (thread CPU time / wall time)."""
    result: dict[str, float] = {}

    def runner() -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        target(seconds)  # type: ignore[operator]
        result["pct"] = 100.0 * (time.thread_time() - c0) / (time.perf_counter() - w0)

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    return result["pct"]


def empty_loop(seconds: float) -> None:
    end = time.time() + seconds
    next_tick = time.time()
    while time.time() < end:
        next_tick += 0.1
        time.sleep(max(0.0, next_tick - time.time()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    s = args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("empty 10 Hz loop (peer)", cost_pct(empty_loop, s))]
        for label, specs, store_flush in (
            ("sampler: replay (H200 trace)", ["replay"], None),
            ("sampler: cpu estimate (/proc/stat)", ["cpu"], None),
            ("sampler: auto (replay + cpu), store flush 1 s", ["auto"], 1.0),
            ("sampler: auto (replay + cpu), store flush every tick", ["auto"], 0.1),
        ):
            sources = open_sources(specs)
            sinks = []
            store = None
            if store_flush is not None:
                store = Store(Path(tmp) / f"bench-{len(rows)}.sqlite")
                sinks.append(store.sink)
            sampler = Sampler(sources, sinks=sinks, interval_s=0.1, flush_interval_s=store_flush or 1.0)
            rows.append((label, cost_pct(sampler.run, s)))
            if store is not None:
                store.close()
        # Our own per-tick work without the OS timer wake-ups (virtual clock): stable under machine load.
        work = []
        for label, specs in (("work per tick x 10 Hz: auto (replay + cpu)", ["auto"]),):
            sampler = Sampler(open_sources(specs), interval_s=0.1)
            ticks = 20_000
            c0 = time.thread_time()
            sampler.run(ticks * 0.1, realtime=False, start=2e9)
            per_tick = (time.thread_time() - c0) / sampler.ticks
            work.append((f"{label} ({per_tick * 1e6:.0f} us/tick)", 100.0 * per_tick * 10))
        rows.extend(work)
    peer = rows[0][1]
    print(f"10 Hz sampler CPU cost over {s:.0f} s each (% of one core; goal <= 0.1 %):")
    for label, pct in rows:
        ratio = f"{pct / peer:5.1f}x peer" if peer > 0 else ""
        print(f"  {label:55} {pct:7.3f} %   {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
