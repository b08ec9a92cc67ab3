#!/usr/bin/env python3
"""Derive oracle/carbon/data/intensity.csv from public data shipped inside registry packages.

Run by a developer when the table is refreshed (never at run time):

    .venv/bin/python scripts/derive_carbon_table.py            # downloads the pinned packages to a temp dir
    .venv/bin/python scripts/derive_carbon_table.py --from DIR # DIR holds the unpacked packages (offline)

Inputs (pinned so the table is reproducible; licences allow redistribution of derived figures):
- PyPI `codecarbon==3.3.2` (MIT): `data/private_infra/global_energy_mix.json` — yearly country generation
  mixes and carbon intensity (Ember / Our World in Data, lifecycle gCO2e/kWh, one `year` per country) and
  `data/cloud/impact.csv` — Google Cloud region grid intensities as published by Google.
- npm `@cloud-carbon-footprint/aws@0.15.0`, `@cloud-carbon-footprint/azure@1.8.0`,
  `@cloud-carbon-footprint/core@1.0.0` (Apache-2.0): AWS and Azure region grid factors (metric t/kWh) and the
  US NERC-region factors they point at.
- Debian `iso-codes` (/usr/share/iso-codes/json/iso_3166-1.json): alpha-3 → alpha-2 country codes.

Output columns: code, kind, name, iso2, iso3, g_per_kwh, year, year_basis, source, via.
`year_basis` is `data` when the row says which year's generation it describes, `published` when the package
states no data year and the year is the publication of the factor set we took. Every row is location-based.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "oracle" / "carbon" / "data"
TABLE_VERSION = "2026.11.1"

CODECARBON = ("codecarbon", "3.3.2")
CCF = {
    "aws": ("@cloud-carbon-footprint/aws", "0.15.0", 2024),
    "azure": ("@cloud-carbon-footprint/azure", "1.8.0", 2026),
    "core": ("@cloud-carbon-footprint/core", "1.0.0", 2026),
}
# Year of the codecarbon 3.3.2 impact.csv (file dated 2025-10 in the wheel); Google states no data year there.
GCP_PUBLISHED_YEAR = 2025
ISO_CODES = Path("/usr/share/iso-codes/json/iso_3166-1.json")
# CCF's methodology page cites carbonfootprint.com's factors "for 2021 electricity" for these non-EU, non-US
# regions; the EU rows come from the EEA and the US rows from EPA eGRID without a stated data year.
CARBONFOOTPRINT_2021 = "carbonfootprint.com international electricity factors for 2021 electricity"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(dest: Path) -> dict[str, Path]:
    """Download the pinned packages with their ordinary clients; return the archive paths."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest),
                    f"{CODECARBON[0]}=={CODECARBON[1]}"], check=True)
    archives = {"codecarbon": next(dest.glob("codecarbon-*.whl"))}
    for key, (name, version, _) in CCF.items():
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=dest, check=True,
                       stdout=subprocess.DEVNULL)
        archives[key] = next(dest.glob(f"cloud-carbon-footprint-{key}-{version}.tgz"))
    return archives


def find_archives(src: Path) -> dict[str, Path]:
    archives = {"codecarbon": next(src.glob(f"codecarbon-{CODECARBON[1]}-*.whl"))}
    for key, (_, version, _) in CCF.items():
        archives[key] = next(src.glob(f"cloud-carbon-footprint-{key}-{version}.tgz"))
    return archives


def wheel_text(whl: Path, member: str) -> str:
    with zipfile.ZipFile(whl) as zf:
        return zf.read(member).decode("utf-8-sig")


def tgz_text(tgz: Path, member: str) -> str:
    with tarfile.open(tgz) as tf:
        f = tf.extractfile(f"package/{member}")
        assert f is not None, member
        return f.read().decode("utf-8")


def iso3_to_iso2() -> dict[str, str]:
    data = json.loads(ISO_CODES.read_text())
    return {c["alpha_3"]: c["alpha_2"] for c in data["3166-1"]}


def country_rows(whl: Path, iso2: dict[str, str]) -> list[dict]:
    mix = json.loads(wheel_text(whl, "codecarbon/data/private_infra/global_energy_mix.json"))
    rows = []
    for iso3, v in sorted(mix.items()):
        if v.get("carbon_intensity") is None:
            continue
        rows.append({
            "code": iso2.get(iso3, iso3), "kind": "country", "name": v["country_name"],
            "iso2": iso2.get(iso3, ""), "iso3": iso3, "g_per_kwh": round(float(v["carbon_intensity"]), 3),
            "year": int(v["year"]), "year_basis": "data",
            "source": "Ember / Our World in Data yearly electricity mix, lifecycle intensity",
            "via": f"pypi codecarbon=={CODECARBON[1]} global_energy_mix.json",
            "_twh": float(v.get("total_TWh") or 0.0),
        })
    return rows


def world_row(countries: list[dict]) -> dict:
    """Generation-weighted mean of the country rows: the reference grid of the Eco Score."""
    total = sum(r["_twh"] for r in countries)
    mean = sum(r["g_per_kwh"] * r["_twh"] for r in countries) / total
    year = Counter(r["year"] for r in countries).most_common(1)[0][0]
    return {"code": "WORLD", "kind": "world", "name": "World (generation-weighted mean of country rows)",
            "iso2": "", "iso3": "", "g_per_kwh": round(mean, 3), "year": year, "year_basis": "data",
            "source": f"derived: mean of {len(countries)} country rows weighted by total_TWh ({total:.0f} TWh)",
            "via": f"pypi codecarbon=={CODECARBON[1]} global_energy_mix.json"}


def gcp_rows(whl: Path) -> list[dict]:
    rows = []
    for r in csv.DictReader(io.StringIO(wheel_text(whl, "codecarbon/data/cloud/impact.csv"))):
        if r["provider"] != "gcp":
            continue
        rows.append({"code": f"gcp:{r['region']}", "kind": "gcp",
                     "name": f"Google Cloud {r['region']} ({r['city'] or r['country_name']})",
                     "iso2": "", "iso3": r["countryIsoCode"], "g_per_kwh": float(r["impact"]),
                     "year": GCP_PUBLISHED_YEAR, "year_basis": "published",
                     "source": f"Google Cloud region carbon data ({r['source']})",
                     "via": f"pypi codecarbon=={CODECARBON[1]} cloud/impact.csv"})
    return rows


def _nerc(core_js: str) -> dict[str, float]:
    block = re.search(r"US_NERC_REGIONS_EMISSIONS_FACTORS = \{(.*?)\}", core_js, re.S)
    assert block
    return {k: float(v) for k, v in re.findall(r"(\w+): ([0-9.e-]+)", block.group(1))}


def ccf_rows(archives: dict[str, Path], iso2: dict[str, str]) -> list[dict]:
    nerc = _nerc(tgz_text(archives["core"], "dist/FootprintEstimationConstants.js"))
    rows = []
    # AWS: region enum NAME = "code", factors keyed by AWS_REGIONS.NAME.
    aws_regions = dict(re.findall(r'AWS_REGIONS\["(\w+)"\] = "([\w-]+)"',
                                  tgz_text(archives["aws"], "dist/lib/AWSRegions.js")))
    aws_consts = tgz_text(archives["aws"], "dist/domain/AwsFootprintEstimationConstants.js")
    aws_factors = re.findall(r"\[AWSRegions_1\.AWS_REGIONS\.(\w+)\]: ([^,\n]+),",
                             aws_consts.split("AWS_EMISSIONS_FACTORS_METRIC_TON_PER_KWH = {")[1])
    azure_js = tgz_text(archives["azure"], "dist/lib/AzureRegions.js")
    azure_regions = dict(re.findall(r"(\w+): \{\s*name: '([\w-]+)'", azure_js))
    azure_consts = tgz_text(archives["azure"], "dist/domain/AzureFootprintEstimationConstants.js")
    azure_factors = re.findall(r"\[AzureRegions_1\.AZURE_REGIONS\.(\w+)\.name\]: ([^,\n]+),",
                               azure_consts.split("AZURE_EMISSIONS_FACTORS_METRIC_TON_PER_KWH = {")[1])
    for kind, regions, factors in (("aws", aws_regions, aws_factors), ("azure", azure_regions, azure_factors)):
        name, version, published = CCF[kind]
        for enum, expr in factors:
            if enum == "UNKNOWN":
                continue
            code = regions[enum]
            m = re.match(r"core_1\.US_NERC_REGIONS_EMISSIONS_FACTORS\.(\w+)", expr.strip())
            if m:
                t_per_kwh = nerc[m.group(1)]
                source, year, basis = f"US EPA eGRID, NERC region {m.group(1)}", CCF["core"][2], "published"
            else:
                t_per_kwh = float(expr)
                eu = enum.startswith(("EU_", "UK_")) or code.startswith("eu-")
                source = "European Environment Agency (EEA) CO2 intensity" if eu else CARBONFOOTPRINT_2021
                year, basis = (published, "published") if eu else (2021, "data")
            rows.append({"code": f"{kind}:{code}", "kind": kind, "name": f"{kind.upper()} {code}",
                         "iso2": "", "iso3": "", "g_per_kwh": round(t_per_kwh * 1e6, 3), "year": year,
                         "year_basis": basis, "source": source, "via": f"npm {name}@{version}"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="src", type=Path, help="folder holding the downloaded packages")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        archives = find_archives(args.src) if args.src else fetch(Path(tmp))
        iso2 = iso3_to_iso2()
        countries = country_rows(archives["codecarbon"], iso2)
        rows = [world_row(countries), *countries, *gcp_rows(archives["codecarbon"]), *ccf_rows(archives, iso2)]
        digests = {key: {"file": p.name, "sha256": sha256(p)} for key, p in archives.items()}
    fields = ["code", "kind", "name", "iso2", "iso3", "g_per_kwh", "year", "year_basis", "source", "via"]
    args.out.mkdir(parents=True, exist_ok=True)
    codes = [r["code"] for r in rows]
    dupes = [c for c, n in Counter(codes).items() if n > 1]
    if dupes:
        raise SystemExit(f"duplicate region codes: {dupes}")
    with open(args.out / "intensity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    meta = {"table_version": TABLE_VERSION, "basis": "location-based", "unit": "gCO2e/kWh",
            "rows": len(rows), "inputs": digests, "iso_codes": str(ISO_CODES),
            "script": "scripts/derive_carbon_table.py"}
    (args.out / "intensity_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {args.out / 'intensity.csv'} (table {TABLE_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
