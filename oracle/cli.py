"""Where `ecoai` used to live: kept so `python -m oracle.cli` and older imports keep working (see oracle.app.cli)."""

from __future__ import annotations

import sys

from oracle.app.cli import COMMAND_MODULES, Parser, build_parser, main

__all__ = ["COMMAND_MODULES", "Parser", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
