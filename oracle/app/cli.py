"""The `ecoai` command (the application layer's entry point). Each feature module contributes its subcommands
through `register(subparsers)`; this is the one place that lists them, the web app's among them."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from oracle import __version__
from oracle.carbon.cli import EFFICIENCY_CLASSES_READER, NODE_CLASS_ID_READER
from oracle.errors import UsageError
from oracle.node.cli import read_chain_config
from oracle.node.config import load_config
from oracle.zk.cli import ONCHAIN_CONFIG_READER

# Modules that add subcommands, in the order `ecoai --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    # In the order a reading flows: measure -> carbon -> optimize/schedule -> prove -> submit -> web, then
    # `ecoai up`, which runs them all together.
    "oracle.measure.cli",
    "oracle.measure.work_cli",
    "oracle.carbon.cli",
    "oracle.optimize.cli",
    "oracle.schedule.cli",
    "oracle.zk.cli",
    "oracle.node.cli",
    "oracle.relay.cli",
    "web.cli",
    "oracle.app.up",
)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the problem and where to look, instead of the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ecoai",
        description="EcoAI: measure AI energy, prove it stayed under budget with Groth16, earn Eco Credits.",
    )
    parser.add_argument("--version", action="version", version=f"ecoai {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    # `ecoai verify --onchain` (oracle.zk, a layer below the node) reads the node's config file: the application
    # layer, which knows both, hands it the node's reader.
    subparsers.choices["verify"].set_defaults(**{ONCHAIN_CONFIG_READER: read_chain_config})
    # `ecoai report --class` (oracle.carbon) reads the deployment parameters' efficiency classes (oracle.chain) and
    # the node config's node.class_id (oracle.node): the same hand-over.
    subparsers.choices["report"].set_defaults(**{EFFICIENCY_CLASSES_READER: _efficiency_classes,
                                                 NODE_CLASS_ID_READER: _node_class_id})
    return parser


def _efficiency_classes(params: Path | None) -> Mapping[str, Any]:
    from oracle.chain.deploy import load_params  # only when a class is asked for

    return load_params(params).classes


def _node_class_id(config: Path) -> str:
    return load_config(config).node.class_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 with one clear line on a wrong subcommand
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"ecoai {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`ecoai ... | head`): not our error. Point stdout at devnull so the interpreter's
        # final flush does not raise again (the recipe of Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
