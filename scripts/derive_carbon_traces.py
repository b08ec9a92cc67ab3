"""Derive real hourly grid carbon intensity (g CO2eq/kWh) from hourly generation-by-fuel data.

Source data: the US EIA-930 "Hourly Electric Grid Monitor" exports for 2020 (hourly net generation by
fuel, MWh, per EIA region) that the PyPI package `carbonfootprint` 1.2.4 ships as data files. EIA data is
US public domain; we read only the CSV files and never import the package's (GPL) code.

Method: intensity(hour) = Σ_fuel gen_fuel · factor_fuel / Σ_fuel gen_fuel, a production-based, lifecycle
(not direct-combustion) intensity of the electricity generated inside the region (imports not included).
Negative net generation (e.g. solar at night, pumped hydro) counts as 0. Hours whose total generation is
not positive are dropped and recorded as gaps in the provenance file, never filled.

Timestamps: EIA labels each hour by its local end ("1/1/2020 1 a.m. PST"); we write the hour's start in UTC.

Run: `.venv/bin/python scripts/derive_carbon_traces.py` (needs PyPI through pip; writes
oracle/schedule/data/carbon_traces_2020.csv and its PROVENANCE.md). Nothing downloads at run time of the
oracle: only this script fetches, and only into a temporary folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

PACKAGE = "carbonfootprint==1.2.4"
OUT_DIR = Path(__file__).resolve().parent.parent / "oracle" / "schedule" / "data"
OUT_CSV = OUT_DIR / "carbon_traces_2020.csv"
OUT_PROVENANCE = OUT_DIR / "PROVENANCE.md"

# EIA region folder inside the wheel -> our zone name.
ZONES = {"caiso2020": "US-CAL", "isone2020": "US-NE", "north_west2020": "US-NW"}

# Lifecycle g CO2eq/kWh. IPCC AR5 WG III Annex III (2014), Table A.III.2, median values, unless noted.
FACTORS: dict[str, tuple[float, str]] = {
    "Coal": (820.0, "IPCC AR5 median, pulverised coal"),
    "Natural gas": (490.0, "IPCC AR5 median, gas combined cycle"),
    # AR5 gives no oil median; derived as Our World in Data does: coal's median scaled by the IPCC 2006
    # default CO2 factors of crude oil vs. coal (73,300 / 98,300 kg CO2/TJ): 820 * 0.7457 = 611.
    "Petroleum": (611.0, "derived: AR5 coal median x IPCC 2006 oil/coal default factor ratio"),
    "Nuclear": (12.0, "IPCC AR5 median, nuclear"),
    "Wind": (11.0, "IPCC AR5 median, wind onshore"),
    "Solar": (48.0, "IPCC AR5 median, solar PV utility"),
    "Hydro": (24.0, "IPCC AR5 median, hydropower"),
    # EIA 'Other' is mostly biomass, waste and geothermal: assumption, the higher of those AR5 medians.
    "Other": (230.0, "assumption: AR5 median of dedicated biomass (highest of biomass/geothermal 38)"),
}

TZ_OFFSET_H = {"PST": -8, "PDT": -7, "EST": -5, "EDT": -4, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5}


def parse_hour_start_utc(label: str) -> datetime:
    """'3/8/2020 12 a.m. PST' (hour ending, local) -> start of that hour in UTC."""
    date_s, hour_s, ampm, tz = label.split()
    month, day, year = (int(x) for x in date_s.split("/"))
    hour12 = int(hour_s) % 12
    hour = hour12 + (12 if ampm.startswith("p") else 0)
    local_end = datetime(year, month, day, hour)
    return (local_end - timedelta(hours=TZ_OFFSET_H[tz] + 1)).replace(tzinfo=timezone.utc)


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest), PACKAGE],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(dest.glob("carbonfootprint-*.whl"))


def derive(wheel: Path, zones: dict[str, str] = ZONES) -> tuple[list[tuple[str, str, float]], dict[str, list[str]]]:
    rows: list[tuple[str, str, float]] = []
    gaps: dict[str, list[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for folder, zone in zones.items():
            names = sorted(n for n in zf.namelist() if f"/dataset/{folder}/" in n and n.endswith(".csv"))
            by_hour: dict[datetime, float] = {}
            for name in names:
                text = zf.read(name).decode("utf-8-sig")
                for rec in csv.DictReader(io.StringIO(text)):
                    start = parse_hour_start_utc(rec["Timestamp (Hour Ending)"])
                    gen = {fuel: max(0.0, float(rec[f"{fuel} Generation (MWh)"] or 0)) for fuel in FACTORS}
                    total = sum(gen.values())
                    if total <= 0:  # dropped: shows up as a gap below
                        continue
                    by_hour[start] = sum(gen[f] * FACTORS[f][0] for f in FACTORS) / total
            hours = sorted(by_hour)
            if not hours:
                raise SystemExit(f"no hourly data for {zone} (folder {folder}) in {wheel.name}")
            expected = hours[0]
            for h in hours:
                while expected < h:  # hours missing from the export: recorded, not filled
                    gaps.setdefault(zone, []).append(expected.strftime("%Y-%m-%dT%H:%M:%SZ"))
                    expected += timedelta(hours=1)
                rows.append((h.strftime("%Y-%m-%dT%H:%M:%SZ"), zone, round(by_hour[h], 2)))
                expected = h + timedelta(hours=1)
    return rows, gaps


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_wheel(Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        rows, gaps = derive(wheel)
        wheel_name = wheel.name
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with OUT_CSV.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["timestamp", "zone", "carbon_g_per_kwh"])
        writer.writerows(rows)
    csv_digest = hashlib.sha256(OUT_CSV.read_bytes()).hexdigest()
    lines = [
        "# Carbon traces: provenance",
        "",
        f"`{OUT_CSV.name}` (sha256 `{csv_digest}`) was written by `scripts/derive_carbon_traces.py`.",
        "",
        f"- Input: `{wheel_name}` from PyPI (sha256 `{digest}`), data files",
        "  `carbonfootprint/dataset/<region>2020/930-data-export-MM.csv`: US EIA-930 hourly net generation by",
        "  fuel (MWh), 2020, US public domain. Only the data files are read; the package's code is not used.",
        "- Zones: " + ", ".join(f"`{z}` (EIA folder `{f}`)" for f, z in ZONES.items()) + ".",
        "- Intensity = generation-weighted mean of lifecycle factors (production-based, imports excluded);",
        "  negative net generation counts as 0. Timestamps are the hour's start in UTC.",
        "",
        "| fuel | g CO2eq/kWh | source |",
        "| --- | --- | --- |",
        *(f"| {fuel} | {value:g} | {src} |" for fuel, (value, src) in FACTORS.items()),
        "",
        "IPCC AR5 = IPCC 2014, WG III, Annex III, Table A.III.2 (lifecycle emissions, median).",
        "",
        "## Gaps (hours dropped or missing, never filled)",
        "",
    ]
    for zone in ZONES.values():
        zone_rows = sum(1 for r in rows if r[1] == zone)
        missing = gaps.get(zone, [])
        lines.append(f"- `{zone}`: {zone_rows} hours written; {len(missing)} gaps" +
                     (": " + ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "") if missing else ""))
    OUT_PROVENANCE.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(rows)} rows to {OUT_CSV}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
