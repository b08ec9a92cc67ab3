"""`ecoai measure`: sample the energy sources for a while, store the readings, print what was used and how."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from oracle.errors import UsageError
from oracle.measure.reading import Gap, Item, Reading, SourceUnavailable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "measure", help="measure energy for S seconds (NVML, RAPL, CPU estimate or a replayed trace)",
        description="Samples at 10 Hz, stores readings in the state folder and prints energy per device with "
                    "its method and whether it was measured, estimated or replayed. Gaps are reported, never filled.")
    p.add_argument("--seconds", required=True, metavar="S", help="how long to sample")
    p.add_argument("--source", action="append", metavar="SRC",
                   help="nvml | rapl | cpu | replay | replay:FILE (repeatable; default: auto = NVML if a GPU "
                        "answers, else the replayed H200 trace plus RAPL or the CPU estimate)")
    p.add_argument("--offset", default="0", metavar="S", help="start the replay S seconds into the trace")
    p.add_argument("--fast", action="store_true", help="virtual clock: replay S seconds without waiting")
    p.add_argument("--hz", default="10", help="sampling rate (10)")
    p.add_argument("--db", type=Path, help="measurement store (default: <state>/measure.sqlite)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="write a PNG of power and cumulative energy")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def _positive(text: str, what: str, allow_zero: bool = False) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise UsageError(f"{what} must be a number (got {text!r})") from exc
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise UsageError(f"{what} must be {'>= 0' if allow_zero else '> 0'} (got {text!r})")
    return value


def summarise(items: list[Item], t0: float, t1: float) -> dict[str, Any]:
    """Per-device totals with their labels; gaps listed as they were recorded."""
    devices: dict[str, dict[str, Any]] = {}
    for it in items:
        if isinstance(it, Reading):
            d = devices.setdefault(it.device, {"device": it.device, "energy_j": 0.0, "methods": set(),
                                               "kinds": set(), "seconds": 0.0})
            d["energy_j"] += it.energy_mj / 1000.0
            d["seconds"] += it.t_end - it.t_start
            d["methods"].add(it.label)
            d["kinds"].add(it.kind)
    out = []
    for d in devices.values():
        out.append({"device": d["device"], "energy_j": round(d["energy_j"], 3),
                    "mean_power_w": round(d["energy_j"] / d["seconds"], 3) if d["seconds"] else None,
                    "methods": sorted(d["methods"]), "kinds": sorted(d["kinds"]),
                    "covered_s": round(d["seconds"], 3)})
    gaps = [{"device": g.device, "source": g.source, "t_start": g.t_start, "t_end": g.t_end, "reason": g.reason}
            for g in items if isinstance(g, Gap)]
    return {"t_start": t0, "t_end": t1, "seconds": round(t1 - t0, 3),
            "energy_j": round(sum(d["energy_j"] for d in out), 3), "devices": out, "gaps": gaps}


def run(args: argparse.Namespace) -> int:
    from oracle.measure import open_sources
    from oracle.measure.sampler import Sampler
    from oracle.store import Store

    seconds = _positive(args.seconds, "--seconds")
    offset = _positive(args.offset, "--offset", allow_zero=True)
    hz = _positive(args.hz, "--hz")
    try:
        sources = open_sources(args.source or ["auto"], replay_offset_s=offset)
    except SourceUnavailable as exc:
        raise UsageError(str(exc)) from exc
    if args.fast and any(s.name != "replay" for s in sources):
        raise UsageError("--fast replays a trace on a virtual clock: use it with --source replay[:FILE] only")
    collected: list[Item] = []
    try:
        with Store(args.db) as store:
            sampler = Sampler(sources, sinks=[store.sink, lambda items, now: collected.extend(items)],
                              interval_s=1.0 / hz)
            t0 = time.time()
            sampler.run(seconds, realtime=not args.fast, start=t0)
            t1 = sampler.last_sample_time or t0
            db_path = store.path
    finally:
        for s in sources:
            s.close()
    summary = summarise(collected, t0, t1)
    summary["store"] = str(db_path)
    if args.plot is not None:
        from oracle.measure.plot import plot_power_energy

        try:
            plot_power_energy([it for it in collected if isinstance(it, Reading)], args.plot)
        except OSError as exc:
            raise UsageError(f"cannot write {args.plot}: {exc}") from exc
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(f"measured {summary['seconds']:.1f} s -> {summary['energy_j']:.1f} J in total")
    for d in summary["devices"]:
        print(f"  {d['device']:40} {d['energy_j']:10.1f} J  {d['mean_power_w'] or 0:8.1f} W  "
              f"{'/'.join(d['kinds'])} via {', '.join(d['methods'])}")
    for g in summary["gaps"]:
        print(f"  gap {g['device']} {g['t_end'] - g['t_start']:.2f} s: {g['reason']}")
    if "plot" in summary:
        print(f"plot: {summary['plot']}")
    return 0
