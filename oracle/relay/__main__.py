"""`python -m oracle.relay …`: the relay command alone (the same as `ecoai relay …`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oracle.errors import UsageError
from oracle.relay.cli import register


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle.relay")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["relay", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"ecoai relay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
