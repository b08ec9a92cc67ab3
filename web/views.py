"""Presentation for the pages: one Jinja2 environment (autoescaping on) and the unit formatters (every figure
carries its unit)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from oracle.conventions import MG_PER_G, MJ_PER_KWH, WEI_PER_ECO

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


CHART_W, CHART_H, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 800, 270, 90, 40, 26


def efficiency_chart(rows: list, unit: str) -> dict | None:
    """Geometry of the node page's chart (an SVG drawn by the template, no script): one bar per accepted epoch,
    oldest first, its height the proven energy per unit τ, labelled by the epoch's start time (UTC), with the
    class baseline β as a dashed line. rows: proof rows with efficiency_uj_per_unit, baseline_uj_per_unit,
    epoch_start (or timestamp), epoch. None without rows."""
    if not rows:
        return None
    values = [float(r["efficiency_uj_per_unit"]) for r in rows]
    baselines = [r["baseline_uj_per_unit"] for r in rows if r["baseline_uj_per_unit"] is not None]
    top = max(values + [float(b) for b in baselines]) * 1.1 or 1.0
    plot_w, plot_h = CHART_W - CHART_LEFT - 10, CHART_H - CHART_BOTTOM - CHART_TOP
    slot = plot_w / len(rows)
    bar_w = min(40.0, max(1.0, slot * 0.7))

    def y(value: float) -> float:
        return round(CHART_TOP + plot_h * (1 - value / top), 1)

    bars, labels = [], []
    step = max(1, len(rows) // 6)
    for i, (row, value) in enumerate(zip(rows, values)):
        x = CHART_LEFT + i * slot + (slot - bar_w) / 2
        when = row["epoch_start"] if row["epoch_start"] is not None else row["timestamp"]
        bars.append({"x": round(x, 1), "y": y(value), "w": round(bar_w, 1), "h": round(CHART_TOP + plot_h - y(value), 1),
                     "title": f"epoch {row['epoch']}, {fmt_time(when)}: at most {fmt_efficiency(value, unit)}"})
        if i % step == 0 or i == len(rows) - 1:
            labels.append({"x": round(x + bar_w / 2, 1), "text": fmt_chart_time(when)})
    ticks = [{"y": y(top * k / 4), "text": f"{round(top * k / 4):,}"} for k in range(5)]
    return {"width": CHART_W, "height": CHART_H, "left": CHART_LEFT, "right": CHART_W - 10,
            "axis_y": CHART_TOP + plot_h, "label_y": CHART_TOP + plot_h + 18, "bars": bars, "labels": labels,
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

