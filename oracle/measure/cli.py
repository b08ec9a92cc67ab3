"""`ecoai measure`: sample the energy sources for a while into the measurement store, print what was used and how."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from oracle.cliargs import non_negative_number, positive_number
from oracle.errors import UsageError, writing
from oracle.measure import Item, Reading, Sampler, SourceUnavailable, open_sources
from oracle.measure.summary import headline, summarise
from oracle.measure.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "measure", help="measure energy for S seconds (NVML, RAPL, CPU estimate or a replayed trace)",
        description="Samples at 10 Hz, stores readings in the state folder and prints energy per device with "
                    "its method and whether it was measured, estimated or replayed, and one total per kind "
                    "(measured, estimated and replayed energy are never added together). Gaps are reported, "
                    "never filled.")
    p.add_argument("--seconds", required=True, type=positive_number, metavar="S", help="how long to sample")
    p.add_argument("--source", action="append", metavar="SRC",
                   help="nvml | rapl | cpu | replay | replay:FILE (repeatable; default: auto = NVML if a GPU "
                        "answers, else the replayed H200 trace plus RAPL or the CPU estimate)")
    p.add_argument("--offset", type=non_negative_number, default=0.0, metavar="S",
                   help="start the replay S seconds into the trace")
    p.add_argument("--fast", action="store_true", help="virtual clock: replay S seconds without waiting")
    p.add_argument("--hz", type=positive_number, default=10.0, help="sampling rate (10)")
    p.add_argument("--db", type=Path, help="measurement store (default: <state>/measure.sqlite)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="write a PNG of power and cumulative energy")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        sources = open_sources(args.source or ["auto"], replay_offset_s=args.offset)
    except SourceUnavailable as exc:
        raise UsageError(str(exc)) from exc
    if args.fast and any(s.name != "replay" for s in sources):
        for s in sources:
            s.close()
        raise UsageError("--fast replays a trace on a virtual clock: use it with --source replay[:FILE] only")
    collected: list[Item] = []
    try:
        with Store(args.db) as store:
            sampler = Sampler(sources, sinks=[store.sink, lambda items, now: collected.extend(items)],
                              interval_s=1.0 / args.hz)
            t0 = time.time()
            sampler.run(args.seconds, realtime=not args.fast, start=t0)
            t1 = sampler.last_sample_time or t0
            db_path = store.path
    finally:
        for s in sources:
            s.close()
    summary = summarise(collected, t0, t1)
    summary["store"] = str(db_path)
    if args.plot is not None:
        from oracle.measure.plot import plot_power_energy

        with writing(args.plot):
            plot_power_energy([it for it in collected if isinstance(it, Reading)], args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(headline(summary))  # one total per kind: measured, estimated and replayed energy are never added up
    for d in summary["devices"]:
        print(f"  {d['device']:40} {d['energy_j']:10.1f} J  {d['mean_power_w'] or 0:8.1f} W  "
              f"{'/'.join(d['kinds'])} via {', '.join(d['methods'])}")
    if summary["gaps"]:
        count = len(summary["gaps"])
        print(f"{count} gap{'' if count == 1 else 's'} (recorded, never filled):")
    for g in summary["gaps"]:
        print(f"  gap {g['device']} {g['t_end'] - g['t_start']:.2f} s: {g['reason']}")
    if "plot" in summary:
        print(f"plot: {summary['plot']}")
    return 0
