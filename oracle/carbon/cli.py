"""`ecoai report`: carbon and Eco Score for an energy figure or for recorded epochs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from oracle.cliargs import non_negative_number, number, positive_number
from oracle.conventions import mj_to_kwh
from oracle.errors import UsageError, writing


def _epoch_spec(spec: str) -> tuple[int | None, int | None, set[int] | None]:
    """"all" | "E" | "A-B" | "A,B,C" -> (first, last, explicit set)."""
    try:
        if spec == "all":
            return None, None, None
        if "," in spec:
            chosen = {int(x) for x in spec.split(",") if x.strip()}
            return min(chosen), max(chosen), chosen
        if "-" in spec.strip("-"):
            a, b = spec.split("-", 1)
            return int(a), int(b), None
        return int(spec), int(spec), None
    except ValueError as exc:
        raise UsageError(f"--epochs {spec!r}: use all, E, A-B or A,B,C with epoch numbers") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="carbon (location-based) and Eco Score of an energy figure or of recorded epochs",
        description="Carbon = energy x grid intensity from EcoAI's versioned table (source and year per row). "
                    "Eco Score: docs/eco-score.md.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--energy-kwh", type=non_negative_number, metavar="X", help="energy used, kWh")
    what.add_argument("--epochs", metavar="SPEC", help="recorded epochs from the store: all, E, A-B or A,B,C")
    what.add_argument("--list-regions", action="store_true", help="print the region codes of the table")
    p.add_argument("--region", metavar="CODE", help="grid region: ISO country (KR) or cloud (aws:us-east-1)")
    p.add_argument("--hours", type=positive_number, metavar="H",
                   help="duration of the workload (needed for the Eco Score)")
    p.add_argument("--quality", type=number, metavar="Q", default=1.0,
                   help="fraction of reference quality retained (1.0)")
    p.add_argument("--hardware-class", default="H200", help="reference hardware class for the Eco Score (H200)")
    p.add_argument("--live", action="store_true",
                   help="use Electricity Maps live intensity (ELECTRICITYMAPS_API_TOKEN) instead of the table")
    p.add_argument("--db", type=Path, help="measurement store of the recorded epochs (default: the node's, "
                   "<state>/node/measure.sqlite)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="with --epochs: write CodeCarbon's emissions.csv schema")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from oracle.carbon.electricitymaps import ElectricityMaps, ElectricityMapsError
    from oracle.carbon.intensity import UnknownRegion, lookup, regions
    from oracle.carbon.report import carbon_report, emissions_rows, write_emissions_csv

    if args.list_regions:
        for r in regions():
            print(f"{r.code:28} {r.g_per_kwh:8.1f} g/kWh  {r.year} ({r.year_basis})  {r.name}")
        return 0
    if args.region is None:
        raise UsageError("--region is required (ISO country code such as KR, or a cloud region such as aws:us-east-1)")
    if args.energy_kwh is None and args.epochs is None:
        raise UsageError("give --energy-kwh X or --epochs SPEC")
    if args.csv is not None and args.epochs is None:
        raise UsageError("--csv needs --epochs (one CodeCarbon row per recorded epoch)")
    quality, hours = args.quality, args.hours
    try:
        row = lookup(args.region)
    except UnknownRegion as exc:
        raise UsageError(str(exc)) from exc
    live = None
    if args.live:
        try:
            live = ElectricityMaps().latest(row.iso2 or row.code)
        except ElectricityMapsError as exc:
            raise UsageError(str(exc)) from exc

    epochs_info: dict[str, Any] | None = None
    if args.epochs is not None:
        from oracle.measure.store import Store, node_store_path

        db = args.db or node_store_path()
        if not db.exists():
            raise UsageError(f"no measurement store at {db}")
        first, last, chosen = _epoch_spec(args.epochs)
        with Store(db) as store:
            epochs = [e for e in store.epochs(first, last) if chosen is None or e.epoch in chosen]
        if not epochs:
            raise UsageError(f"no recorded epochs match {args.epochs!r} in {db}")
        energy_kwh = mj_to_kwh(sum(e.total_mj for e in epochs))
        if hours is None:
            hours = sum(e.t1 - e.t0 for e in epochs) / 3600.0
        by_kind: dict[str, int] = {}
        for e in epochs:
            for k, v in e.by_kind.items():
                by_kind[k] = by_kind.get(k, 0) + v
        epochs_info = {"epochs": [e.epoch for e in epochs], "by_kind_mj": by_kind,
                       "incomplete_epochs": [e.epoch for e in epochs if not e.complete]}
    else:
        energy_kwh = args.energy_kwh
    try:
        report = carbon_report(energy_kwh, args.region, hours, quality, args.hardware_class, live)
    except (ValueError, UnknownRegion) as exc:
        raise UsageError(str(exc)) from exc
    if epochs_info is not None:
        report.update(epochs_info)
        if args.csv is not None:
            with writing(args.csv):
                write_emissions_csv(args.csv, emissions_rows(epochs, row, report["intensity_g_per_kwh"]))
            report["csv"] = str(args.csv)
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"energy      {report['energy_kwh']:.4f} kWh")
    print(f"carbon      {report['carbon_kg']:.3f} kg CO2e  ({report['intensity_g_per_kwh']:.1f} g/kWh, "
          f"{report['region']} {report['region_name']})")
    print(f"source      {report['source']}")
    if report["eco_score"] is not None:
        print(f"eco score   {report['eco_score']:.1f} / 100  (hardware class {report['hardware_class']}, "
              f"quality {report['quality']:g}, {report['hours']:g} h)")
    else:
        print(f"eco score   -  ({report['eco_score_note']})")
    if epochs_info and epochs_info["incomplete_epochs"]:
        print(f"note        epochs with measurement gaps: {epochs_info['incomplete_epochs']}")
    if "csv" in report:
        print(f"wrote       {report['csv']} (CodeCarbon emissions.csv columns)")
    return 0
