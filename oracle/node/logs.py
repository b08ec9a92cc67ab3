"""Logging for the node: every `ecoai.*` logger (sampler, node, up) reaches stderr and <state>/logs/<name>.log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(log_file: Path, level: int = logging.INFO, stream: bool = True) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("ecoai")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT, "%Y-%m-%dT%H:%M:%S")
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(formatter)
    root.addHandler(file_handler)
    if stream:
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(formatter)
        root.addHandler(stream_handler)
    # web3/urllib3 log full tracebacks of refused connections at DEBUG/WARNING; an outage is expected here.
    for noisy in ("web3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
