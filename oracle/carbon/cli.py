"""`ecoai report`: carbon, and the Eco Score of the work done, for an energy figure or for recorded epochs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from oracle.cliargs import non_negative_int, non_negative_number, positive_number
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


# What `ecoai report` reads from layers oracle.carbon may not import; the application layer (oracle.app.cli) sets
# them on the parser, as it does for `ecoai verify --onchain`:
EFFICIENCY_CLASSES_READER = "report_efficiency_classes"
#   (params file | None) -> {class id: class with baseline_uj_per_unit and unit}: the deployment parameters
#   (oracle.chain.deploy.load_params; None: oracle/chain/default_params.toml)
NODE_CLASS_ID_READER = "report_node_class_id"
#   (node config file) -> its node.class_id, "" when unset (oracle.node.config.load_config)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="carbon (location-based) and Eco Score of an energy figure or of recorded epochs",
        description="Carbon = energy x grid intensity from EcoAI's versioned table (source and year per row). "
                    "Eco Score = 100 x max(0, 1 - eta/beta): eta = energy per unit of useful work (microjoules "
                    "per unit), beta = the efficiency class's baseline; work-weighted over epochs; no work, no "
                    "score (docs/eco-score.md). With --epochs the energy and the work come from the measurement "
                    "store; with --energy-kwh give the work (--work). beta comes from --class (an efficiency "
                    "class of the deployment parameters; default: node.class_id of --config when set) or "
                    "--baseline-uj-per-unit.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--energy-kwh", type=non_negative_number, metavar="X", help="energy used, kWh")
    what.add_argument("--epochs", metavar="SPEC", help="recorded epochs from the store: all, E, A-B or A,B,C")
    what.add_argument("--list-regions", action="store_true", help="print the region codes of the table")
    p.add_argument("--region", metavar="CODE", help="grid region: ISO country (KR) or cloud (aws:us-east-1)")
    p.add_argument("--work", type=non_negative_int, metavar="W",
                   help="with --energy-kwh: units of useful work done with that energy (tokens, items, ...)")
    beta = p.add_mutually_exclusive_group()
    beta.add_argument("--class", dest="class_id", metavar="CLASS_ID",
                      help="efficiency class whose baseline is beta, e.g. H200/encoder-bf16/item (default: "
                           "node.class_id of --config when set)")
    beta.add_argument("--baseline-uj-per-unit", type=positive_number, metavar="B",
                      help="beta given explicitly, microjoules per unit of work (instead of --class)")
    p.add_argument("--params", type=Path, metavar="FILE",
                   help="deployment parameters holding the classes (default: oracle/chain/default_params.toml)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="the node's config file: its node.class_id is the default --class")
    p.add_argument("--live", action="store_true",
                   help="use Electricity Maps live intensity (ELECTRICITYMAPS_API_TOKEN) instead of the table")
    p.add_argument("--db", type=Path, help="measurement store of the recorded epochs (default: the node's, "
                   "<state>/node/measure.sqlite)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="with --epochs: write CodeCarbon's emissions.csv schema")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def _baseline(args: argparse.Namespace) -> Any:
    """β from --baseline-uj-per-unit, --class or the node config's node.class_id; None when none is given."""
    from oracle.carbon.report import Baseline

    if args.baseline_uj_per_unit is not None:
        return Baseline(args.baseline_uj_per_unit)
    class_id = args.class_id
    if class_id is None and args.config is not None:
        read_class_id = getattr(args, NODE_CLASS_ID_READER, None)
        if read_class_id is None:
            raise UsageError("--config needs the node's config reader (run it as `ecoai report`)")
        class_id = read_class_id(args.config) or None
        if class_id is None:
            raise UsageError(f"--config {args.config}: node.class_id is not set; give --class CLASS_ID or "
                             "--baseline-uj-per-unit B")
    if class_id is None:
        return None
    read_classes = getattr(args, EFFICIENCY_CLASSES_READER, None)
    if read_classes is None:
        raise UsageError("--class needs the deployment parameters' reader (run it as `ecoai report`)")
    classes = read_classes(args.params)
    found = classes.get(class_id)
    if found is None:
        where = args.params or "oracle/chain/default_params.toml"
        raise UsageError(f"efficiency class {class_id!r} is not in the deployment parameters ({where}; classes: "
                         f"{', '.join(sorted(classes))})")
    return Baseline(found.baseline_uj_per_unit, class_id, found.unit)


def run(args: argparse.Namespace) -> int:
    from oracle.carbon.electricitymaps import ElectricityMaps, ElectricityMapsError
    from oracle.carbon.intensity import UnknownRegion, lookup, regions
    from oracle.carbon.report import (carbon_report, emissions_rows, energy_eco_score, epochs_score_report,
                                      write_emissions_csv)

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
    if args.work is not None and args.epochs is not None:
        raise UsageError("--work goes with --energy-kwh; with --epochs the work comes from the measurement store")
    try:
        row = lookup(args.region)
    except UnknownRegion as exc:
        raise UsageError(str(exc)) from exc
    baseline = _baseline(args)
    live = None
    if args.live:
        try:
            live = ElectricityMaps().latest(row.iso2 or row.code)
        except ElectricityMapsError as exc:
            raise UsageError(str(exc)) from exc

    epochs_info: dict[str, Any] | None = None
    try:
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
            by_kind: dict[str, int] = {}
            for e in epochs:
                for k, v in e.by_kind.items():
                    by_kind[k] = by_kind.get(k, 0) + v
            epochs_info = {"epochs": [e.epoch for e in epochs], "by_kind_mj": by_kind,
                           "incomplete_epochs": [e.epoch for e in epochs if not e.complete]}
            score = epochs_score_report(epochs, baseline)
        else:
            energy_kwh = args.energy_kwh
            score = energy_eco_score(energy_kwh, args.work, baseline)
        report = carbon_report(energy_kwh, args.region, live)
    except (ValueError, UnknownRegion) as exc:
        raise UsageError(str(exc)) from exc
    report.update(score)
    if epochs_info is not None:
        report.update(epochs_info)
        if args.csv is not None:
            with writing(args.csv):
                write_emissions_csv(args.csv, emissions_rows(epochs, row, report["intensity_g_per_kwh"]))
            report["csv"] = str(args.csv)
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    _print_text(report)
    return 0


def _print_text(report: dict[str, Any]) -> None:
    unit = report["work_unit"] or "unit"
    print(f"energy      {report['energy_kwh']:.4f} kWh")
    print(f"carbon      {report['carbon_kg']:.3f} kg CO2e  ({report['intensity_g_per_kwh']:.1f} g/kWh, "
          f"{report['region']} {report['region_name']})")
    print(f"source      {report['source']}")
    if report["work_units"] is not None:
        print(f"work        {report['work_units']:,} {unit}s")
    if report["efficiency_uj_per_unit"] is not None:
        print(f"efficiency  {report['efficiency_uj_per_unit']:,.0f} uJ/{unit}")
    if report["eco_score"] is not None:
        beta = f"{report['baseline_uj_per_unit']:,.0f} uJ/{unit}"
        print(f"eco score   {report['eco_score']:.2f} / 100  (baseline {beta}"
              f"{', class ' + report['class_id'] if report['class_id'] else ''})")
    else:
        print(f"eco score   -  ({report['eco_score_note']})")
    for key, what in (("incomplete_epochs", "epochs with energy gaps (energy is a lower bound)"),
                      ("work_gap_epochs", "epochs with work gaps (work is a lower bound)"),
                      ("no_work_epochs", "epochs without work (no score; their energy counts in the carbon)")):
        if report.get(key):
            print(f"note        {what}: {report[key]}")
    if "csv" in report:
        print(f"wrote       {report['csv']} (CodeCarbon emissions.csv columns)")
