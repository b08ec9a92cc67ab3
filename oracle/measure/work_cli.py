"""`ecoai work add N` / `ecoai work show`: batch and training jobs in other processes count their work in the store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from oracle.cliargs import non_negative_int
from oracle.errors import UsageError
from oracle.measure.reading import SourceUnavailable, WorkUnitMismatch
from oracle.measure.store import Store, node_store_path
from oracle.measure.work import check_counter_name, check_unit


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "work", help="count useful work of a batch or training job (read by the node at interval boundaries)",
        description="Adds to a named work counter in the measurement store, durably (one fsynced SQLite "
                    "transaction). The node reads the counter's running total at its interval boundaries "
                    "(config: work source work:NAME).")
    sub = p.add_subparsers(dest="work_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add N units of work to a counter",
                         description="Adds N units of work to the named counter (created on first use with "
                                     "--unit; a later add in another unit is refused) and prints the new total.")
    add.add_argument("n", type=non_negative_int, metavar="N", help="units of work done since the last add (whole number)")
    add.add_argument("--unit", default="item", help="what one unit is: token, image, request, item, ... (item)")
    add.add_argument("--name", default="default", help="counter name (default)")
    add.add_argument("--db", type=Path, help="store (default: the node's, <state>/node/measure.sqlite)")
    add.set_defaults(handler=run_add)
    show = sub.add_parser("show", help="list the work counters and their totals",
                          description="Lists every work counter of the store with its unit and running total.")
    show.add_argument("--db", type=Path, help="store (default: the node's, <state>/node/measure.sqlite)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=run_show)


def run_add(args: argparse.Namespace) -> int:
    try:
        check_counter_name(args.name)
        check_unit(args.unit)
        with Store(args.db or node_store_path()) as store:
            total = store.work_add(args.name, args.unit, args.n)
    except (SourceUnavailable, WorkUnitMismatch) as exc:
        raise UsageError(str(exc)) from exc
    print(f"{args.name}: +{args.n} {args.unit} -> {total} {args.unit}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with Store(args.db or node_store_path()) as store:
        counters = store.work_counter_names()
    if args.json:
        print(json.dumps({name: {"unit": unit, "total": total} for name, unit, total in counters}, sort_keys=True))
        return 0
    for name, unit, total in counters:
        print(f"{name:24} {total:>16} {unit}")
    return 0
