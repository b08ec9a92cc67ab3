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


@functools.cache
def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=True,
                      undefined=StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kwh=fmt_kwh, eco=fmt_eco, carbon=fmt_carbon, short=fmt_short, utc=fmt_time, num=fmt_int,
                       duration=fmt_duration, efficiency=fmt_efficiency, score=fmt_score, plural=plural)
    env.globals.update(sort_labels=SORT_LABELS, credit_means=CREDIT_MEANS, proof_limits=PROOF_LIMITS,
                       eco_score_formula=ECO_SCORE_FORMULA)
    return env

