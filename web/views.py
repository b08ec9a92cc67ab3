"""Presentation shared by the pages and the store's precomputed leaderboard rows: one Jinja2 environment
(autoescaping on) and the unit formatters (every figure carries its unit)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

WEB_DIR = Path(__file__).resolve().parent
MJ_PER_KWH = 3_600_000_000
WEI_PER_ECO = 10**18

SORT_LABELS = {
    "credits": "Credits (ECO = kWh saved)",
    "score": "Eco Score",
    "proofs": "Proofs",
    "energy": "Energy certified",
}


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
    return f"{mg / 1000:,.2f} g CO₂"


def fmt_short(address: str | None) -> str:
    return "—" if not address else f"{address[:6]}…{address[-4:]}"


def fmt_time(ts: int | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@functools.cache
def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=True,
                      undefined=StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kwh=fmt_kwh, eco=fmt_eco, carbon=fmt_carbon, short=fmt_short, utc=fmt_time, num=fmt_int)
    env.globals["sort_labels"] = SORT_LABELS
    return env


def node_cells(row: Any) -> str:
    """The leaderboard cells of one node (all but the position), rendered once when its figures change."""
    return make_env().get_template("_node_cells.html").render(row=row)


def proof_rows(node: str, rows: Any) -> str:
    """Table rows of a node's proofs (newest first), for the node page and its HTMX paging."""
    return make_env().get_template("_proof_rows.html").render(node=node, rows=rows)
