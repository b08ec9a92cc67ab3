"""The versioned grid carbon-intensity table we ship (oracle/carbon/data/intensity.csv).

Derived by scripts/derive_carbon_table.py from public data inside registry packages (CodeCarbon: Ember/OWID
country mixes and Google Cloud regions; Cloud Carbon Footprint: AWS and Azure regions); every row carries its
source and year, and every figure is location-based (the grid's average mix, no market instruments).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
BASIS = "location-based"


class UnknownRegion(ValueError):
    """The region is not in the table."""


@dataclass(frozen=True)
class Intensity:
    code: str  # KR, aws:us-east-1, gcp:asia-northeast3, azure:koreacentral, WORLD
    kind: str  # country | aws | gcp | azure | world
    name: str
    iso2: str
    iso3: str
    g_per_kwh: float
    year: int
    year_basis: str  # "data": the year the generation happened; "published": the factor set's publication year
    source: str
    via: str

    def describe(self) -> str:
        """One line saying what the factor is: source, year, basis and table version."""
        year = f"{self.year} data" if self.year_basis == "data" else f"published {self.year}"
        return (f"{self.source}, {year}; {BASIS}; EcoAI carbon table {table_version()} "
                f"(derived from {self.via})")


@lru_cache(maxsize=1)
def _table() -> dict[str, Intensity]:
    out: dict[str, Intensity] = {}
    with open(DATA_DIR / "intensity.csv", newline="") as f:
        for r in csv.DictReader(f):
            row = Intensity(r["code"], r["kind"], r["name"], r["iso2"], r["iso3"], float(r["g_per_kwh"]),
                            int(r["year"]), r["year_basis"], r["source"], r["via"])
            out[row.code.lower()] = row
            if row.kind == "country" and row.iso3:
                out.setdefault(row.iso3.lower(), row)
    return out


@lru_cache(maxsize=1)
def table_version() -> str:
    return str(json.loads((DATA_DIR / "intensity_meta.json").read_text())["table_version"])


def lookup(region: str) -> Intensity:
    """Intensity of a country (ISO 3166 alpha-2 or alpha-3: KR, KOR) or cloud region (aws:us-east-1,
    gcp:asia-northeast3, azure:koreacentral), case-insensitive. Raises UnknownRegion."""
    key = region.strip().lower()
    row = _table().get(key)
    if row is None:
        raise UnknownRegion(
            f"unknown region {region!r}: use an ISO country code (KR, KOR) or a cloud region such as "
            "aws:us-east-1, gcp:asia-northeast3, azure:koreacentral (see `ecoai report --list-regions`)")
    return row


def world() -> Intensity:
    """The generation-weighted world mean (the table's world row)."""
    return _table()["world"]


def regions() -> list[Intensity]:
    seen: dict[str, Intensity] = {}
    for row in _table().values():
        seen[row.code] = row
    return sorted(seen.values(), key=lambda r: (r.kind, r.code))
