"""`ecoai optimize` (frontier + recommendation from a measured profile, predictions for unmeasured batch sizes,
the online learner simulated against the profile) and `ecoai profile` (measure one)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.cliargs import non_negative_int, non_negative_number, positive_int, positive_ints, positive_number
from oracle.errors import writing
from oracle.optimize.pareto import (
    Constraints,
    Prices,
    Recommendation,
    Weights,
    cost_per_item,
    recommend,
)
from oracle.optimize.profile import ProfileRow, load_profile

# The currency of --energy-price and --gpu-hour-price, and so of every cost figure (README: EUR per kWh, EUR per
# GPU-hour). The optimizer never converts: the prices given are taken to be in this currency.
CURRENCY = "EUR"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "optimize",
        help="Pareto frontier and recommended configuration from a measured profile CSV",
        description="Frontier over (cost, energy, latency) per item of the configurations that meet the "
        "constraints, and the recommendation (lowest weighted score; default weights 0,1,0 = greenest) "
        "with its saving against the default configuration (fp32 at the largest batch).",
    )
    p.add_argument("--profile", required=True, type=Path, help="profile CSV (see docs: columns gpu..quality)")
    p.add_argument("--latency-slo-ms", type=positive_number, default=None, help="max latency per batch call, ms")
    p.add_argument("--min-quality", type=non_negative_number, default=None,
                   help="min quality retained (fraction of the reference model's accuracy)")
    p.add_argument("--weights", default="0,1,0", help="l1,l2,l3 for cost,energy,latency (default 0,1,0)")
    p.add_argument("--energy-price", type=non_negative_number, default=0.15, metavar="EUR_PER_KWH",
                   help=f"electricity price, {CURRENCY} per kWh (default 0.15)")
    p.add_argument("--gpu-hour-price", type=non_negative_number, default=3.0, metavar="EUR",
                   help=f"accelerator rental price, {CURRENCY} per GPU-hour (default 3.0)")
    p.add_argument("--predict-batches", type=positive_ints, default=None, metavar="B,B,...",
                   help="also predict energy per item at these batch sizes where the profile has no measurement "
                        "(ridge model fitted on the profile, oracle.optimize.energy_model; never recommended)")
    p.add_argument("--online", action="store_true",
                   help="simulate the online learner (oracle.optimize.bandit) against the profile: one trial "
                        "per run of the job, printing each trial until the best feasible configuration is found")
    p.add_argument("--trials", type=positive_int, default=None, help="--online: trials to run (default: grid size)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="--online: random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON: frontier, recommendation, default, saving")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of energy vs latency with the frontier")
    p.set_defaults(handler=run_optimize)

    q = subparsers.add_parser(
        "profile",
        help="measure a real PyTorch model (digits MLP) under fp32/bf16/int8 and batch sizes into a profile CSV",
        description="Runs a real PyTorch model (a digits MLP) for --seconds per configuration (each precision x "
                    "batch size), measures its energy with --source, its latency and its quality, and writes the "
                    "profile CSV that `ecoai optimize --profile` reads.",
    )
    q.add_argument("--out", required=True, type=Path, help="profile CSV to write")
    q.add_argument("--batches", type=positive_ints, default=[1, 8, 32, 128, 512], help="comma-separated batch sizes")
    q.add_argument("--precisions", default="fp32,bf16,int8", help="comma-separated: fp32,bf16,int8")
    q.add_argument("--seconds", type=positive_number, default=1.0, help="measuring window per configuration (s)")
    q.add_argument("--source", default="auto",
                   help="energy source: auto (NVML if a GPU answers, else RAPL, else the CPU estimate) | nvml | "
                        "rapl | cpu (oracle.measure)")
    q.add_argument("--device", default="cpu", help="cpu or cuda (cuda: int8 skipped, energy from NVML)")
    q.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (default 1: stable on shared cores)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_profile)


def _row_json(row: ProfileRow) -> dict[str, Any]:
    return row.as_dict()


def as_json(rec: Recommendation) -> dict[str, Any]:
    return {
        "frontier": [_row_json(r) for r in rec.frontier],
        "recommendation": _row_json(rec.row),
        "default": _row_json(rec.default),
        "default_rule": "fp32 row with the largest batch (then highest power limit); else the first row",
        # A default outside the constraints makes the saving negative: say so rather than leave it unexplained.
        "default_meets_constraints": rec.constraints.admits(rec.default),
        "saving": {
            "energy_j_per_item": rec.saving.energy_j_per_item,
            "energy_pct": rec.saving.energy_pct,
            "cost_per_item": rec.saving.cost_per_item,
            "cost_pct": rec.saving.cost_pct,
            "latency_ms": rec.saving.latency_ms,
        },
        "constraints": {"latency_slo_ms": rec.constraints.latency_slo_ms, "min_quality": rec.constraints.min_quality},
        "weights": {"cost": rec.weights.cost, "energy": rec.weights.energy, "latency": rec.weights.latency},
        "prices": {"energy_per_kwh": rec.prices.energy_per_kwh, "gpu_hour": rec.prices.gpu_hour,
                   "currency": CURRENCY},
    }


def _count(n: int, word: str) -> str:
    """"1 configuration", "2 configurations"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _text(rec: Recommendation) -> str:
    def line(r: ProfileRow) -> str:
        q = "-" if r.quality is None else f"{r.quality:.3f}"
        return (f"  {r.label():<18} {r.energy_j_per_item:>12.6g} J/item {r.latency_ms:>9.4g} ms "
                f"{cost_per_item(r, rec.prices):>11.4g} {CURRENCY}/item  quality {q}")

    out = [f"Pareto frontier ({_count(len(rec.frontier), 'configuration')}, {rec.constraints.describe()}; "
           f"prices {rec.prices.energy_per_kwh:g} {CURRENCY}/kWh, {rec.prices.gpu_hour:g} {CURRENCY}/GPU-hour):"]
    out += [line(r) for r in rec.frontier]
    out.append("Recommended:")
    out.append(line(rec.row))
    out.append("Default (fp32, largest batch):")
    out.append(line(rec.default))
    s = rec.saving
    out.append(f"Saving vs default: {s.energy_pct:.1f} % energy per item ({s.energy_j_per_item:.6g} J), "
               f"{s.cost_pct:.1f} % cost per item ({s.cost_per_item:.4g} {CURRENCY}), "
               f"latency {-s.latency_ms:+.4g} ms")
    if not rec.constraints.admits(rec.default):
        out.append(f"  (the default does not meet {rec.constraints.describe()}: the recommendation is what "
                   "meeting them costs)")
    return "\n".join(out)


# Where a point's label may go, in points from the point (ha, va follow the side), nearest first; placement
# tries each at growing distances and keeps the first spot that overlaps no label, marker or the axes' edge.
_LABEL_OFFSETS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_LABEL_RADII = (5.0, 12.0, 20.0, 30.0)
_MARKER_PX = 4.0  # half the side of the square kept free around every marker
_LABEL_PAD_PX = 2.0  # least gap between two labels


def place_labels(ax: Any, points: list[tuple[float, float, str]], fontsize: float = 7,
                 big_markers: Sequence[tuple[float, float]] = ()) -> tuple[list[Any], list[str]]:
    """Labels for `points` (x, y, text), in priority order, placed so that no two labels' boxes intersect, none
    covers a marker and each stays inside the axes: each label takes the nearest free spot among a few offsets
    (a thin leader line when it is not next to its point); `big_markers` (data x, y) are kept free over a
    larger square (the recommendation's star). Returns (the annotations placed, the texts that found
    no free spot, for the caller to list elsewhere). The axes' limits must be final (the figure is drawn)."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    obstacles = [Bbox.from_bounds(px - _MARKER_PX, py - _MARKER_PX, 2 * _MARKER_PX, 2 * _MARKER_PX)
                 for px, py in (to_px((x, y)) for x, y, _ in points)]
    obstacles += [Bbox.from_bounds(px - 3 * _MARKER_PX, py - 3 * _MARKER_PX, 6 * _MARKER_PX, 6 * _MARKER_PX)
                  for px, py in (to_px(xy) for xy in big_markers)]
    placed, left_out = [], []
    for x, y, text in points:
        spot = None
        for radius in _LABEL_RADII:
            for sx, sy in _LABEL_OFFSETS:
                ann = ax.annotate(
                    text, (x, y), xytext=(sx * radius, sy * radius), textcoords="offset points", fontsize=fontsize,
                    ha={1: "left", -1: "right", 0: "center"}[sx], va={1: "bottom", -1: "top", 0: "center"}[sy],
                    arrowprops=None if radius <= _LABEL_RADII[0] else {"arrowstyle": "-", "lw": 0.5,
                                                                      "color": "#777777", "shrinkB": 3})
                ann.update_positions(renderer)  # applies the offset (normally done at draw time)
                box = Text.get_window_extent(ann, renderer)
                inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                          and box.y1 <= frame.y1)
                if inside and not any(box.padded(_LABEL_PAD_PX).overlaps(other) for other in obstacles):
                    spot = ann
                    obstacles.append(box)
                    break
                ann.remove()
            if spot is not None:
                break
        if spot is None:
            left_out.append(text)
        else:
            placed.append(spot)
    return placed, left_out


def frontier_figure(rec: Recommendation, rows: list[ProfileRow]) -> tuple[Any, list[Any], list[str]]:
    """Energy per item against latency (log-log), the frontier, the recommendation and the SLO. Every label is
    placed where it overlaps no other (place_labels): the frontier's, the recommendation's and the default's
    first, then the other measured rows while room is left; a key label with no room is listed outside the axes
    under the legend instead. Returns (figure, the label annotations placed, the key labels listed instead)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(9, 5))
    ax.scatter([r.latency_ms for r in rows], [r.energy_j_per_item for r in rows], c="#bbbbbb", label="measured")
    front = sorted(rec.frontier, key=lambda r: r.latency_ms)
    ax.plot([r.latency_ms for r in front], [r.energy_j_per_item for r in front], "o-", c="#2a9d8f", label="frontier")
    ax.scatter([rec.row.latency_ms], [rec.row.energy_j_per_item], marker="*", s=250, c="#e76f51",
               label=f"recommended {rec.row.label()}", zorder=5)
    if rec.constraints.latency_slo_ms is not None:
        ax.axvline(rec.constraints.latency_slo_ms, ls="--", c="#888888", label="latency SLO")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers at 1-2-5 steps, no crowded minor-tick labels
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.margins(0.12)  # room for labels at the edges
    for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if high / low < 5:  # under one 1-2-5 step: label every minor tick (1..9 × 10^k) instead
            axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
            axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("latency per batch call (ms)")
    ax.set_ylabel("energy per item (J)")
    ax.set_title(f"{rows[0].gpu} · {rows[0].workload}")
    # The legend sits outside the axes, so it never hides a point or a label.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()

    key = [*front, rec.row, rec.default]
    key_labels = {r.label() for r in key}
    points: list[tuple[float, float, str]] = []
    for r in [*key, *rows]:
        if r.label() not in {text for _, _, text in points}:
            points.append((r.latency_ms, r.energy_j_per_item, r.label()))
    placed, left_out = place_labels(ax, points, big_markers=[(rec.row.latency_ms, rec.row.energy_j_per_item)])
    key_left_out = [text for text in left_out if text in key_labels]
    if key_left_out:  # never drop a frontier label silently
        ax.annotate("not labelled on the chart:\n" + "\n".join(key_left_out), xy=(1.02, 0.0),
                    xycoords="axes fraction", va="bottom", ha="left", fontsize=7)
    return fig, placed, key_left_out


def plot(rec: Recommendation, rows: list[ProfileRow], path: Path) -> None:
    """Writes frontier_figure as a PNG."""
    import matplotlib.pyplot as plt

    fig, _, _ = frontier_figure(rec, rows)
    try:
        with writing(path, "plot"):
            fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def predictions(rows: list[ProfileRow], batches: list[int]) -> dict[str, Any]:
    """Energy per item predicted for each measured (gpu, workload, precision, power limit) at the `batches`
    it lacks, with the model's leave-one-out error on this profile (what the predictions are worth)."""
    from dataclasses import asdict, replace

    from oracle.optimize.energy_model import fit, held_out_error

    model = fit(rows)
    measured = {(r.gpu, r.workload, *r.key) for r in rows}
    groups = {(r.gpu, r.workload, r.precision, r.power_limit_w): r for r in rows}
    wanted = [replace(r, batch=b) for r in groups.values() for b in batches
              if (r.gpu, r.workload, r.precision, b, r.power_limit_w) not in measured]
    energies = model.predict(wanted) if wanted else []
    return {"held_out": asdict(held_out_error(rows)),
            "rows": [{"gpu": r.gpu, "workload": r.workload, "precision": r.precision, "batch": r.batch,
                      "power_limit_w": r.power_limit_w, "energy_j_per_item": float(f"{e:.6g}")}
                     for r, e in zip(wanted, energies)]}


def _predictions_text(pred: dict[str, Any]) -> str:
    err = pred["held_out"]
    out = [f"Predicted, not measured (ridge model, leave-one-out error on this profile {err['mape_pct']:.0f} % "
           f"mean, {err['max_ape_pct']:.0f} % max):"]
    for r in pred["rows"]:
        limit = "" if r["power_limit_w"] is None else f" @{r['power_limit_w']:g}W"
        out.append(f"  {r['precision']} b{r['batch']}{limit:<8} {r['energy_j_per_item']:>12.6g} J/item")
    if not pred["rows"]:
        out.append("  (every requested batch size is measured)")
    return "\n".join(out)


def online(rows: list[ProfileRow], args: argparse.Namespace) -> dict[str, Any]:
    """The online learner run once against the profile (replayed with 5 % measurement noise)."""
    from oracle.optimize.bandit import best_feasible, simulate

    trials = args.trials or len(rows)
    run = simulate(rows, args.latency_slo_ms, trials, args.seed, min_quality=args.min_quality)
    star = best_feasible(rows, args.latency_slo_ms, args.min_quality)
    return {"trials": [{"trial": t + 1, "ran": rows[i].label(), "recommendation": None if rec is None else
                        rows[rec].label(), "regret_j_per_item": run.regret_j_per_item[t]}
                       for t, (i, rec) in enumerate(zip(run.chosen, run.recommendation))],
            "best_feasible": rows[star].label(), "trials_to_within_5pct": run.trials_to_within,
            "slo_violations": run.slo_violations, "grid_size": len(rows)}


def _online_text(on: dict[str, Any]) -> str:
    out = [f"Online learner ({len(on['trials'])} trials on a grid of {on['grid_size']}, "
           f"best feasible {on['best_feasible']}):"]
    out += [f"  trial {t['trial']:>3}: ran {t['ran']:<16} recommends {t['recommendation'] or '-'}"
            for t in on["trials"]]
    reached = on["trials_to_within_5pct"]
    out.append(f"within 5 % of the best feasible after {reached} trials" if reached is not None
               else "not within 5 % of the best feasible in these trials")
    return "\n".join(out)


def run_optimize(args: argparse.Namespace) -> int:
    rows = load_profile(args.profile)
    rec = recommend(
        rows,
        Constraints(args.latency_slo_ms, args.min_quality),
        Weights.parse(args.weights),
        Prices(args.energy_price, args.gpu_hour_price),
    )
    if args.plot is not None:
        plot(rec, rows, args.plot)
    pred = predictions(rows, args.predict_batches) if args.predict_batches else None
    on = online(rows, args) if args.online else None
    if args.json:
        out = as_json(rec)
        if pred is not None:
            out["predicted"] = pred
        if on is not None:
            out["online"] = on
        print(json.dumps(out, indent=2))
        return 0
    print(_text(rec))
    if pred is not None:
        print(_predictions_text(pred))
    if on is not None:
        print(_online_text(on))
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from oracle.optimize.profiler import profile_cli  # torch is optional: imported only here

    return profile_cli(args)
