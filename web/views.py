"""Presentation for the pages: one Jinja2 environment (autoescaping on) and the unit formatters (every figure
carries its unit)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from oracle.conventions import MG_PER_G, MJ_PER_KWH, WEI_PER_ECO
from web.db.queries import method_labels

WEB_DIR = Path(__file__).resolve().parent

SORT_LABELS = {
    "efficiency": "Efficiency (energy per unit)",
    "credits": "Credits (ECO = kWh saved)",
    "eco_score": "Eco Score",
    "proofs": "Proofs",
}
# The two sentences every page says (web/templates/_meaning.html).
CREDIT_MEANS = ("1 ECO = 1 kWh saved: the energy a node did not use compared with doing the same work at its "
                "class's baseline efficiency, for the work its proofs count.")
PROOF_LIMITS = ("What a proof cannot show: the energy and work readings are measured by the node itself; the proof "
                "shows they meet the claimed efficiency tier, not that the meters tell the truth.")
ECO_SCORE_FORMULA = "Eco Score = 100 × max(0, 1 − Σ τ·W / Σ β·W)"


def plural(count: int | None, singular: str, plural_form: str | None = None) -> str:
    """"1 node", "2 nodes", "0 nodes" (with thousands separators)."""
    n = count or 0
    return f"{n:,} {singular if n == 1 else (plural_form or singular + 's')}"


def fmt_efficiency(value: float | int | None, unit: str | None = None) -> str:
    """Energy per unit of work: µJ per unit (mJ above 10,000 µJ), with the class's unit name."""
    if value is None:
        return "—"
    per = f"/{unit}" if unit else "/unit"
    if value >= 10_000:
        return f"{value / 1000:,.2f} mJ{per}"
    return f"{value:,.1f} µJ{per}" if value != int(value) else f"{int(value):,} µJ{per}"


def fmt_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@functools.lru_cache(maxsize=8192)  # a pure function of the time; epochs start at the same times on every node
def fmt_chart_time(ts: int | None) -> str:
    if ts is None:
        return "?"
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%m-%d %H:%M")


def fmt_kwh(mj: int | float | None) -> str:
    """kWh with 3 decimals, or 6 below 1 kWh (a short local epoch is a few Wh)."""
    kwh = (mj or 0) / MJ_PER_KWH
    return f"{kwh:,.3f} kWh" if kwh >= 1 or kwh == 0 else f"{kwh:.6f} kWh"


def fmt_joules(mj: int | None) -> str:
    """Joules from mJ (a node's own footprint is small next to the kWh it certifies)."""
    return f"{(mj or 0) / 1000:,.1f} J"


def fmt_eco(wei: str | int | None) -> str:
    """ECO with 4 decimals, or 8 below 1 ECO (a short local epoch earns thousandths); truncated, never rounded up."""
    value = int(wei or 0)
    if value == 0:
        return "0 ECO"
    whole, frac = divmod(value, WEI_PER_ECO)
    frac_text = f"{frac:018d}"[:4 if whole else 8]
    return f"{whole:,}.{frac_text} ECO"


def fmt_carbon(mg: int | None) -> str:
    mg = mg or 0
    if mg >= 1_000_000:
        return f"{mg / 1_000_000:,.3f} kg CO₂"
    return f"{mg / MG_PER_G:,.2f} g CO₂"


def fmt_short(address: str | None) -> str:
    return "—" if not address else f"{address[:6]}…{address[-4:]}"


@functools.lru_cache(maxsize=8192)  # as fmt_chart_time
def fmt_time(ts: int | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def fmt_duration(seconds: int | None) -> str:
    """Seconds, with hours or minutes beside them when they divide evenly (governance epoch lengths)."""
    if seconds is None:
        return "—"
    for unit, name in ((3600, "h"), (60, "min")):
        if seconds >= unit and seconds % unit == 0:
            return f"{seconds:,} s ({seconds // unit:,} {name})"
    return f"{seconds:,} s"


class LeaderboardCells(NamedTuple):
    """One leaderboard row, every cell formatted (the template escapes them)."""

    position: str
    node: str
    label: str | None
    node_short: str
    inactive: bool
    class_region: str
    beneficiary: str
    beneficiary_short: str
    efficiency: str
    eco_score: str
    credits_wei: str
    credits: str
    proofs: str


def leaderboard_cells(rows: list[Any]) -> list[LeaderboardCells]:
    """The cells of leaderboard rows (web.db.queries.Reader.leaderboard), formatted once per row in Python:
    cheaper than filters called from the template, and the same text."""
    return [LeaderboardCells(str(r["position"]), r["node"], r["label"], fmt_short(r["node"]), not r["active"],
                             f"{r['class_id'] or '—'} · {r['region'] or '—'}", r["beneficiary"] or "",
                             fmt_short(r["beneficiary"]), fmt_efficiency(r["efficiency_uj_per_unit"], r["unit"]),
                             fmt_score(r["eco_score"]), str(r["credits_wei"]), fmt_eco(r["credits_wei"]),
                             fmt_int(r["proofs"]))
            for r in rows]


class ProofCells(NamedTuple):
    """One row of a node's proof table, every cell formatted (the template escapes them)."""

    epoch: str
    started: str
    efficiency: str
    work: str
    methods: str
    energy: str
    credits: str
    settled: str


def proof_cells(rows: list[Any], unit: str | None) -> list[ProofCells]:
    """The cells of a node's proof rows (as leaderboard_cells); unit: the node's unit of work."""
    cells = []
    for p in rows:
        energy_method, work_method = method_labels(p["methods"])
        cells.append(ProofCells(str(p["epoch"]), "—" if p["epoch_start"] is None else fmt_time(p["epoch_start"]),
                                fmt_efficiency(p["efficiency_uj_per_unit"], unit), fmt_int(p["work_units"]),
                                f"{energy_method} / {work_method}", fmt_kwh(p["energy_bound_mj"]),
                                fmt_eco(p["credits_wei"]),
                                f"batch of {p['batch_size']}" if p["batch_size"] > 1 else "single"))
    return cells


CHART_W, CHART_H, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 800, 270, 90, 40, 26
PLOT_W, PLOT_H = CHART_W - CHART_LEFT - 10, CHART_H - CHART_BOTTOM - CHART_TOP


@functools.lru_cache(maxsize=256)
def _chart_slots(count: int) -> tuple[str, tuple[str, ...], tuple[tuple[int, str], ...]]:
    """The horizontal geometry of a chart of `count` bars (the same for every chart of that many bars): the bar
    width, each bar's x, and the (index, x) of the bars labelled with their time."""
    slot = PLOT_W / count
    bar_w = min(40.0, max(1.0, slot * 0.7))
    xs = [CHART_LEFT + i * slot + (slot - bar_w) / 2 for i in range(count)]
    step = max(1, count // 6)
    labelled = tuple((i, str(round(x + bar_w / 2, 1))) for i, x in enumerate(xs) if i % step == 0 or i == count - 1)
    return str(round(bar_w, 1)), tuple(str(round(x, 1)) for x in xs), labelled


def efficiency_chart(rows: list, unit: str) -> dict | None:
    """The node page's chart (an SVG, no script; _efficiency_chart.html draws its frame): one bar per accepted epoch,
    oldest first, its height the proven energy per unit τ, labelled by the epoch's start time (UTC), with the
    class baseline β as a dashed line. rows: proof rows with efficiency_uj_per_unit, baseline_uj_per_unit,
    epoch_start (or timestamp), epoch. None without rows. Labels are (x, text); the bars come as their SVG
    elements (Markup, escaped here): a hundred `<rect>`s written by one f-string cost about a fifth of the same
    loop in the template (five escaped values each), and they are the node page's largest part."""
    if not rows:
        return None
    values = [float(r["efficiency_uj_per_unit"]) for r in rows]
    baselines = [r["baseline_uj_per_unit"] for r in rows if r["baseline_uj_per_unit"] is not None]
    top = max(values + [float(b) for b in baselines]) * 1.1 or 1.0
    axis = CHART_TOP + PLOT_H

    def y(value: float) -> float:
        return round(CHART_TOP + PLOT_H * (1 - value / top), 1)

    width, xs, labelled = _chart_slots(len(rows))
    # (y, height, "at most …") of each distinct value: a node proves few distinct tiers.
    shapes: dict[float, tuple[str, str, str]] = {}
    bars = []
    for x, row, value in zip(xs, rows, values):
        shape = shapes.get(value)
        if shape is None:
            bar_y = y(value)
            shape = shapes[value] = (str(bar_y), str(round(axis - bar_y, 1)), escape(fmt_efficiency(value, unit)))
        when = row["epoch_start"] if row["epoch_start"] is not None else row["timestamp"]
        # Only the unit (a governed class's name) can need escaping: it is in shape[2], escaped once per value.
        title = f"epoch {int(row['epoch'])}, {fmt_time(when)}: at most {shape[2]}"
        bars.append(f'<rect class="bar" x="{x}" y="{shape[0]}" width="{width}" height="{shape[1]}" fill="#1f7a4d">'
                    f'<title>{title}</title></rect>')
    labels = []
    for i, x in labelled:
        row = rows[i]
        labels.append((x, fmt_chart_time(row["epoch_start"] if row["epoch_start"] is not None else row["timestamp"])))
    ticks = [{"y": y(top * k / 4), "text": f"{round(top * k / 4):,}"} for k in range(5)]
    return {"width": CHART_W, "height": CHART_H, "left": CHART_LEFT, "right": CHART_W - 10,
            "axis_y": axis, "label_y": axis + 18, "bars": Markup("\n  ".join(bars)), "labels": labels,
            "ticks": ticks, "axis_title": f"µJ/{unit}", "baseline_y": y(float(baselines[-1])) if baselines else None,
            "baseline_text": f"class baseline {fmt_efficiency(baselines[-1], unit)}" if baselines else None}


@functools.cache
def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=True,
                      undefined=StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kwh=fmt_kwh, eco=fmt_eco, carbon=fmt_carbon, short=fmt_short, utc=fmt_time, num=fmt_int,
                       duration=fmt_duration, efficiency=fmt_efficiency, score=fmt_score, plural=plural,
                       joules=fmt_joules)
    env.globals.update(sort_labels=SORT_LABELS, credit_means=CREDIT_MEANS, proof_limits=PROOF_LIMITS,
                       eco_score_formula=ECO_SCORE_FORMULA)
    return env

